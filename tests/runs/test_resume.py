"""SIGKILL a run, start it again: it equals an uninterrupted run and recomputes only unfinished units."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Slow enough per unit that the kill lands mid-run (the direction step's permutation tests dominate).
CONFIG = """
studies:
  readout-check: {n_pairs: 8, n_boot: 200, n_perm: 500, folds: 4, n_random: 1, min_n_per_cell: 4}
"""


def command(out: Path, config: Path) -> list[str]:
    return [
        sys.executable, "-m", "valuescope.cli", "run", "readout-check", "--model", "tiny-gpt2",
        "--model", "tiny-llama", "--profile", "quick", "--config", str(config), "--out", str(out), "--quiet",
    ]  # fmt: skip


def finished_units(out: Path) -> dict[str, str]:
    """unit path -> the run_id that computed it (a killed writer's ``.*.tmp`` folder is no unit)."""
    return {
        str(p.parent.relative_to(out)): json.loads(p.read_text())["run_id"]
        for p in (out / "units").glob("readout-check/*/*/unit.json")
        if not p.parent.name.startswith(".")
    }


def differing(a: object, b: object, at: str = "") -> list[str]:
    """The paths at which two JSON values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differing(a.get(k), b.get(k), f"{at}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differing(x, y, f"{at}[{i}]")]
    return [] if a == b else [f"{at}: {a!r} != {b!r}"]


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    whole = tmp_path / "whole"
    subprocess.run(command(whole, config), check=True, env=env, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        command(killed, config), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not finished_units(killed) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before_resume = finished_units(killed)
    assert before_resume, "no unit finished before the kill"
    assert not (killed / "summary.json").exists(), "the run finished before the kill; the test proved nothing"
    assert len(before_resume) < len(finished_units(whole))

    subprocess.run(command(killed, config), check=True, env=env, capture_output=True, timeout=600)
    after = finished_units(killed)
    for unit, run_id in before_resume.items():
        assert after[unit] == run_id, f"{unit} was recomputed although it had finished"
    assert len(after) == len(finished_units(whole))

    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, killed))
    assert a == b, f"fields that differ after the resume: {differing(a, b)}"
    assert (killed / "summary.json").read_text() == (whole / "summary.json").read_text()
    tables = sorted(p.name for p in (whole / "tables").iterdir())
    assert tables == sorted(p.name for p in (killed / "tables").iterdir())
    for name in tables:
        assert (killed / "tables" / name).read_bytes() == (whole / "tables" / name).read_bytes(), name
    assert not list(killed.rglob(".*.tmp")), "a temp file survived the resume"


def test_a_unit_that_read_another_study_reruns_when_that_study_recomputed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from typing import ClassVar

    from valuescope.runs.config import make_plan
    from valuescope.runs.execute import execute
    from valuescope.studies import registry
    from valuescope.studies.protocol import Artifacts, Output, Step, Study, StudyConfig, UnitContext

    made = Output("make", "n", "data", "source")
    calls = {"source": 0, "reader": 0}

    def make(ctx: UnitContext[StudyConfig]) -> Artifacts:
        calls["source"] += 1
        return Artifacts(data={"n": calls["source"]})

    def read(ctx: UnitContext[StudyConfig]) -> Artifacts:
        calls["reader"] += 1
        return Artifacts(data={"seen": ctx.read(made)})

    class Source(Study[StudyConfig]):
        name, title, description = "source", "Source", "makes n"

        def steps(self, config: StudyConfig) -> list[Step]:
            return [Step("make", make, needs="none")]

    class Reader(Study[StudyConfig]):
        name, title, description = "reader", "Reader", "reads n"
        reads: ClassVar[tuple[str, ...]] = ("source",)

        def steps(self, config: StudyConfig) -> list[Step]:
            return [Step("read", read, needs="none")]

    monkeypatch.setattr(registry, "_ADDED", {"source": Source, "reader": Reader})
    out = tmp_path / "run"
    plan = make_plan("reader", ["tiny-llama"], out, profile="quick")
    assert list(plan.configs) == ["source", "reader"]
    execute(plan, quiet=True)
    execute(plan, quiet=True)
    assert calls == {"source": 1, "reader": 1}  # finished units are reused
    time.sleep(1.1)  # unit times are recorded to the second
    shutil.rmtree(out / "units" / "source")
    execute(plan, quiet=True)
    assert calls == {"source": 2, "reader": 2}, "the reader read a result that is gone: it runs again"
    seen = json.loads((out / "units" / "reader" / "tiny-llama" / "read" / "unit.json").read_text())
    assert seen["data"]["seen"] == 2
