"""A run records its instruments' validity, or says why it could not; it never fails for it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from valuescope.instruments.validity import RUN_TABLE
from valuescope.runs.config import make_plan
from valuescope.runs.instrument_check import record_instrument_validity


def test_without_data_the_run_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALUESCOPE_DATA", raising=False)
    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path / "run", profile="quick")
    (tmp_path / "run").mkdir()
    verdicts = record_instrument_validity(plan)
    assert not (tmp_path / "run" / RUN_TABLE).exists()
    status = json.loads((tmp_path / "run" / "instruments.json").read_text())
    assert status["status"] == "no data" and status["below_gate"] == verdicts
    # the shipped heads' verdicts, measured when they were trained, and said to come from there
    assert set(verdicts) == {"value-labeller", "projective-scorer"}
    for reason in verdicts.values():
        assert reason is None or "shipped heads were trained" in reason


def test_a_data_folder_without_the_sets_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path / "run", profile="quick", data=data)
    (tmp_path / "run").mkdir()
    record_instrument_validity(plan)
    status = json.loads((tmp_path / "run" / "instruments.json").read_text())
    assert status["status"] == "failed" and "touche23" in status["reason"]


@pytest.mark.real
def test_with_the_shared_data_the_table_is_written(tmp_path: Path, shared_data: Path) -> None:
    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path / "run", profile="quick", data=shared_data)
    (tmp_path / "run").mkdir()
    verdicts = record_instrument_validity(plan)
    assert json.loads((tmp_path / "run" / "instruments.json").read_text())["status"] == "validated"
    table = pd.read_csv(tmp_path / "run" / RUN_TABLE)
    assert all(v is None or "shipped heads" not in v for v in verdicts.values())
    assert set(table["instrument"]) == {"value-labeller", "projective-scorer", "judge"}
    assert (table["dimension"] == "macro").sum() == 5  # the judge has macro accuracy and consistency
    assert verdicts["judge"] is not None and "accuracy" in verdicts["judge"]  # SmolLM2 does not pass
