"""A step reads an earlier step's output through a typed handle: present it is returned as filed, absent
the error names the step and the output, and a failed earlier step still marks the reader blocked."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pandas as pd
import pytest
import torch

from valuescope.data.sources import DataSources
from valuescope.runs.unit_runner import BLOCKED, UpstreamMissing, record_failure
from valuescope.runs.units import read_unit_meta
from valuescope.studies import registry
from valuescope.studies.protocol import Artifacts, MissingOutput, Output, StudyConfig, UnitContext

RATINGS: Output[pd.DataFrame] = Output("ratings", "ratings", "tables")
DIRECTION: Output[torch.Tensor] = Output("direction", "direction", "tensors")
LAYER: Output[int] = Output("direction", "layer", "data")
THRESHOLD: Output[float] = Output("direction", "threshold", "data")


class _WithFailed(Mapping[str, Artifacts]):
    """Earlier steps as the runner hands them over: reading a failed one raises ``UpstreamMissing``."""

    def __init__(self, done: dict[str, Artifacts], failed: str) -> None:
        self.done, self.failed = done, failed

    def __getitem__(self, step: str) -> Artifacts:
        if step == self.failed:
            raise UpstreamMissing(f"study/model/{step}", "failed: boom")
        return self.done[step]

    def __iter__(self) -> Iterator[str]:
        return iter(self.done)

    def __len__(self) -> int:
        return len(self.done)


def _ctx(previous: Mapping[str, Artifacts]) -> UnitContext[StudyConfig]:
    def load() -> NoReturn:
        raise AssertionError("reading an output never loads the model")

    return UnitContext(
        "study",
        "model",
        "ablation",
        StudyConfig(),
        0,
        DataSources(None),
        previous,
        False,
        load,
    )


def _earlier() -> dict[str, Artifacts]:
    ratings = pd.DataFrame({"pair": ["a", "b"], "expected": [3.0, 5.0]})
    direction = Artifacts(tensors={"direction": torch.ones(4)}, data={"layer": 2})
    return {"ratings": Artifacts(tables={"ratings": ratings}), "direction": direction}


def test_read_returns_the_output_as_its_step_filed_it() -> None:
    earlier = _earlier()
    ctx = _ctx(earlier)
    assert ctx.read(RATINGS) is earlier["ratings"].tables["ratings"]
    assert ctx.read(DIRECTION) is earlier["direction"].tensors["direction"]
    assert ctx.read(LAYER) == 2


def test_read_of_an_output_the_step_did_not_produce_names_both() -> None:
    message = r"reads the data value 'threshold' of step 'direction'.*its data: layer"
    with pytest.raises(MissingOutput, match=message):
        _ctx(_earlier()).read(THRESHOLD)


def test_read_from_a_step_with_no_result_names_the_step() -> None:
    earlier = _earlier()
    del earlier["direction"]
    message = r"step 'ablation' of study reads the tensor 'direction'.*no result for model"
    with pytest.raises(MissingOutput, match=message):
        _ctx(earlier).read(DIRECTION)


def test_get_gives_the_default_only_when_the_step_ran_without_the_output() -> None:
    ctx = _ctx(_earlier())
    assert ctx.get(THRESHOLD) is None
    assert ctx.get(THRESHOLD, 0.5) == 0.5
    assert ctx.get(LAYER, 7) == 2
    earlier = _earlier()
    del earlier["direction"]
    with pytest.raises(MissingOutput):
        _ctx(earlier).get(THRESHOLD, 0.5)


def test_has_is_false_for_a_failed_step_a_missing_step_and_a_missing_output() -> None:
    earlier = _earlier()
    assert _ctx(earlier).has(LAYER)
    assert not _ctx(earlier).has(THRESHOLD)
    assert not _ctx(_WithFailed(earlier, failed="direction")).has(LAYER)
    del earlier["direction"]
    assert not _ctx(earlier).has(LAYER)


def test_reading_from_a_failed_step_records_the_reader_as_blocked(tmp_path: Path) -> None:
    ctx = _ctx(_WithFailed(_earlier(), failed="direction"))
    with pytest.raises(MissingOutput) as caught:
        ctx.read(LAYER)
    assert isinstance(caught.value.__cause__, UpstreamMissing)
    record_failure(tmp_path / "unit", {"step": "ablation"}, caught.value, "run")
    meta = read_unit_meta(tmp_path / "unit")
    assert meta is not None
    assert meta["status"] == BLOCKED
    assert meta["upstream"] == "study/model/direction"


def _declared_outputs() -> Iterator[tuple[str, list[str], Output[object]]]:
    for name, cls in registry.BUILT_IN.items():
        package = cls.__module__
        if importlib.util.find_spec(f"{package}.outputs") is None:
            continue  # a study whose steps read nothing of each other
        module = importlib.import_module(f"{package}.outputs")
        steps = [s.name for s in cls().steps(cls.Config())]
        for value in vars(module).values():
            if isinstance(value, Output):
                yield name, steps, value


def test_every_declared_output_is_of_a_step_of_its_study() -> None:
    declared = list(_declared_outputs())
    studies = {study for study, _, _ in declared}
    assert studies == {"atlas", "entanglement", "indifference", "mechanisms", "readout-check"}
    for study, steps, output in declared:
        if output.study is not None:  # another study's output: a study this one reads, and a step of it
            assert output.study in registry.BUILT_IN[study].reads, f"{study} reads {output}, not in its reads"
            other = registry.BUILT_IN[output.study]
            steps = [s.name for s in other().steps(other.Config())]
        assert output.step in steps, f"{study}: {output} names no step of the study ({', '.join(steps)})"
    keys = [(study, o.study, o.step, o.kind, o.name) for study, _, o in declared]
    assert len(keys) == len(set(keys)), "an output is declared twice"
