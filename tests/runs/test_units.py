"""Units are recorded atomically and read back exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from valuescope.runs.units import read_unit, slug, unit_seed, write_unit
from valuescope.studies.protocol import Artifacts


def test_a_unit_round_trips(tmp_path: Path) -> None:
    art = Artifacts(
        tables={"t": pd.DataFrame({"a": [1, 2], "b": [0.1, 1 / 3], "c": ["x", "y"]})},
        tensors={"v": torch.arange(4.0)},
        generations={"g": [{"prompt": "p", "response": "r <b>"}]},
        metrics={"m": {"estimate": 1.0, "ci_low": 0.5, "ci_high": 2.0, "p": None, "n": 3}},
        data={"layer": 3},
    )
    folder = tmp_path / "units" / "s" / "m" / "step"
    write_unit(folder, art, {"seed": 7})
    got = read_unit(folder)
    assert got is not None
    back, meta = got
    pd.testing.assert_frame_equal(back.tables["t"], art.tables["t"])
    assert torch.equal(back.tensors["v"], art.tensors["v"])
    assert back.generations == art.generations and back.metrics == art.metrics and back.data == art.data
    assert meta["seed"] == 7
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temp folder left behind"


def test_a_failed_write_leaves_no_unit(tmp_path: Path) -> None:
    folder = tmp_path / "u"
    bad = Artifacts(data={"x": object()})
    with pytest.raises(TypeError):
        write_unit(folder, bad, {})
    assert read_unit(folder) is None and list(tmp_path.iterdir()) == []


def test_slugs_are_safe_and_distinct() -> None:
    assert slug("gemma-3-270m") == "gemma-3-270m"
    a, b = slug("org/model"), slug("org_model/")
    assert "/" not in a and a != b and a.startswith("org-model-")


def test_unit_seeds_are_stable_and_differ_by_part() -> None:
    assert unit_seed(0, "s", "m", "x") == unit_seed(0, "s", "m", "x")
    assert unit_seed(0, "s", "m", "x") != unit_seed(0, "s", "m", "y") != unit_seed(1, "s", "m", "y")


def test_a_recorded_table_comes_back_exactly(tmp_path: Path) -> None:
    """Texts that CSV readers turn into NaN or numbers ("NA", "null", "1", "") stay texts."""
    import numpy as np
    import pandas as pd

    from valuescope.runs.units import read_unit, write_unit
    from valuescope.studies.protocol import Artifacts

    table = pd.DataFrame(
        {
            "text": ["NA", "null", "1", "", "None"],
            "x": [1.0, np.nan, 2.5, 3.0, 4.0],
            "flag": [True, False] * 2 + [True],
        }
    )
    write_unit(tmp_path / "u", Artifacts(tables={"t": table}), {"study": "s", "model": "m", "step": "x"})
    got = read_unit(tmp_path / "u")
    assert got is not None
    back = got[0].tables["t"]
    assert list(back["text"]) == ["NA", "null", "1", "", "None"]
    assert np.isnan(back["x"][1]) and back["flag"].dtype == bool
