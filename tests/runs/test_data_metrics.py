"""Optional external data: found through --data / VALUESCOPE_DATA, hashed into the manifest, and when
absent the metrics that need it say so while the study still runs."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from valuescope.data.sources import DATA_ENV
from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.stats.metrics import metric
from valuescope.studies import registry
from valuescope.studies.protocol import Artifacts, Step, Study, UnitContext

VALUEBENCH = "valuebench/value_orientation.csv"


def _count_mft(ctx: UnitContext) -> Artifacts:
    path = ctx.data.find(VALUEBENCH)
    if path is None:
        return Artifacts()
    with ctx.data.use(path).open(newline="", encoding="utf-8") as fh:
        n = sum(1 for row in csv.DictReader(fh) if row["questionnaire"].startswith("MFT"))
    return Artifacts(metrics={"n_mft_items": metric(n, n=n)})


class DataProbe(Study):
    name = "data-probe"
    title = "Reads ValueBench when it is there"
    description = "Test study."
    data_metrics = {VALUEBENCH: ("n_mft_items",)}  # noqa: RUF012

    def steps(self, config):  # type: ignore[no-untyped-def]
        return [Step("count", _count_mft, needs="none")]


@pytest.fixture
def probe() -> Iterator[None]:
    registry.register(DataProbe)
    yield
    registry._ADDED.pop(DataProbe.name, None)


def test_absent_data_is_said_in_the_results(
    tmp_path: Path, probe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    out = tmp_path / "run"
    execute(make_plan("data-probe", ["tiny-gpt2"], out, profile="quick"), quiet=True)
    entry = json.loads((out / "summary.json").read_text())["data-probe"]["tiny-gpt2"]["n_mft_items"]
    assert entry["estimate"] is None and VALUEBENCH in entry["note"] and DATA_ENV in entry["note"]


def test_present_data_is_used_and_hashed(tmp_path: Path, probe: None) -> None:
    data = tmp_path / "data"
    (data / "valuebench").mkdir(parents=True)
    table = data / VALUEBENCH
    table.write_text("questionnaire,item,value,agreement,question\nMFT08,a,Care,1,q\nPVQ40,b,Power,1,q\n")
    out = tmp_path / "run"
    execute(make_plan("data-probe", ["tiny-gpt2"], out, profile="quick", data=data), quiet=True)
    assert (
        json.loads((out / "summary.json").read_text())["data-probe"]["tiny-gpt2"]["n_mft_items"]["estimate"]
        == 1
    )
    assert str(table.resolve()) in json.loads((out / "manifest.json").read_text())["data_files"]


BUILT_IN_DATA = [(name, cls) for name, cls in registry.BUILT_IN.items() if cls.data_metrics]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "cls"), BUILT_IN_DATA, ids=[n for n, _ in BUILT_IN_DATA])
def test_with_the_shared_data_every_data_metric_appears(tmp_path: Path, name: str, cls: type[Study]) -> None:
    """CI sets VALUESCOPE_DATA to the shared data folder: then every metric that needs it has an estimate
    (computed: one resting on an instrument below its validity gate keeps it under ``ungated``)."""
    if not os.environ.get(DATA_ENV):
        pytest.skip(f"{DATA_ENV} is not set (CI sets it to ../shared/data)")
    out = tmp_path / "run"
    execute(make_plan(name, ["tiny-gpt2"], out, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())[name]["tiny-gpt2"]
    for relative, metrics in cls.data_metrics.items():
        for m in metrics:
            computed = summary[m].get("ungated", summary[m])
            assert computed["estimate"] is not None, f"{m} needs {relative}: {summary[m].get('note')}"
