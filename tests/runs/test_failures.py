"""One failed unit never costs the rest: failures are recorded, dependants skipped, the report lists them,
the command exits 3, and a rerun retries only what did not run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuescope.cli import app
from valuescope.report import write_report
from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.runs.unit_runner import RunDir
from valuescope.stats.metrics import metric
from valuescope.studies import registry
from valuescope.studies.protocol import Artifacts, Step, Study, UnitContext

FAIL_ENV = "VALUESCOPE_TEST_FAIL"
"""Names the step that raises (the tests switch it off to show that a rerun repairs the run)."""


def _first(ctx: UnitContext) -> Artifacts:
    return Artifacts(metrics={"first": metric(float(ctx.rng.normal()), -10, 10, n=1)}, data={"x": 1.5})


def _boom(ctx: UnitContext) -> Artifacts:
    if os.environ.get(FAIL_ENV) == "boom":
        raise RuntimeError("injected failure\nsecond line of the message")
    return Artifacts(metrics={"boom": metric(2.0, 1.0, 3.0, n=1)}, data={"y": 2.0})


def _after(ctx: UnitContext) -> Artifacts:
    y = ctx.previous["boom"].data["y"]
    return Artifacts(metrics={"after": metric(y + 1, y, y + 2, n=1)})


def _independent(ctx: UnitContext) -> Artifacts:
    x = ctx.previous["first"].data["x"]
    optional = "boom" in ctx.previous
    return Artifacts(metrics={"independent": metric(x, 0, 3, n=1, note=f"boom ran: {optional}")})


class FaultProbe(Study):
    name = "fault-probe"
    title = "A study with a step that can be made to fail"
    description = "Test study."

    def steps(self, config):  # type: ignore[no-untyped-def]
        return [
            Step("first", _first, needs="none"),
            Step("boom", _boom, needs="none"),
            Step("after", _after, needs="none"),
            Step("independent", _independent, needs="none"),
        ]

    def compare(self, per_model, config, seed):  # type: ignore[no-untyped-def]
        total = sum(a.metrics["after"]["estimate"] for a in per_model.values())
        return Artifacts(metrics={"total": metric(total, total, total, n=len(per_model))})

    def findings(self, result):  # type: ignore[no-untyped-def]
        return {m: [f"after is {result.per_model[m].metrics['after']['estimate']}"] for m in result.models}


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry.register(FaultProbe)
    monkeypatch.setenv(FAIL_ENV, "boom")
    yield
    registry._ADDED.pop(FaultProbe.name, None)


def _run(out: Path, models: list[str]) -> tuple[dict, dict]:
    execute(make_plan("fault-probe", models, out, profile="quick"), quiet=True)
    return json.loads((out / "summary.json").read_text()), json.loads((out / "manifest.json").read_text())


def test_a_failed_unit_is_recorded_and_the_rest_still_run(tmp_path: Path, probe: None) -> None:
    out = tmp_path / "run"
    summary, manifest = _run(out, ["tiny-gpt2", "tiny-llama"])
    failed = {e["unit"]: e for e in summary["failed_units"]}
    assert manifest["failed_units"] == summary["failed_units"]
    boom = failed["fault-probe/tiny-gpt2/boom"]
    assert boom["status"] == "failed" and boom["error_type"] == "RuntimeError"
    assert boom["reason"] == "injected failure second line of the message", "one line"
    after = failed["fault-probe/tiny-gpt2/after"]
    assert after["status"] == "skipped" and after["upstream"] == "fault-probe/tiny-gpt2/boom"
    assert "fault-probe/tiny-gpt2/boom" in after["reason"]
    compare = [e for e in summary["failed_units"] if e["model"] == "_all"]
    assert compare and compare[0]["status"] == "skipped", "the cross-model unit needs every model"
    assert not any(u.endswith(("/first", "/independent")) for u in failed)
    for model in ("tiny-gpt2", "tiny-llama"):
        metrics = summary["fault-probe"][model]
        assert set(metrics) == {"first", "independent"}, "finished units report their numbers"
        assert metrics["independent"]["note"] == "boom ran: False", "an optional upstream reads as absent"
    traceback = RunDir(out).unit("fault-probe", "tiny-gpt2", "boom") / "traceback.txt"
    assert "RuntimeError: injected failure" in traceback.read_text() and "_boom" in traceback.read_text()
    page = write_report(out).read_text()
    assert (
        "What did not run" in page and "injected failure" in page and "Part of this study did not run" in page
    )


def test_a_rerun_retries_only_the_units_that_did_not_run(
    tmp_path: Path, probe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _run(out, ["tiny-gpt2"])
    monkeypatch.delenv(FAIL_ENV)
    summary, manifest = _run(out, ["tiny-gpt2"])
    assert summary["failed_units"] == []
    status = {(t["model"], t["step"]): t["status"] for t in manifest["timings"]}
    assert status == {
        ("tiny-gpt2", "first"): "reused",
        ("tiny-gpt2", "boom"): "computed",
        ("tiny-gpt2", "after"): "computed",
        ("tiny-gpt2", "independent"): "reused",
        ("_all", "compare"): "computed",
    }
    assert summary["fault-probe"]["tiny-gpt2"]["after"]["estimate"] == 3.0
    assert "What did not run" not in write_report(out).read_text()


def test_failing_findings_fall_back_to_the_complete_models(tmp_path: Path, probe: None) -> None:
    summary, manifest = _run(tmp_path / "run", ["tiny-gpt2"])
    assert any(e["unit"] == "fault-probe/_all/findings" for e in summary["failed_units"])
    assert manifest["studies"]["fault-probe"]["findings"] == {}


def test_the_command_exits_3_and_names_the_report(tmp_path: Path, probe: None) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "fault-probe", "-m", "tiny-gpt2", "-o", str(out), "-q"])
    assert result.exit_code == 3, result.output
    assert str(out / "report.html") in result.output and (out / "report.html").is_file()
    assert "fault-probe/tiny-gpt2/boom: failed: injected failure" in result.output


def test_a_model_that_cannot_load_fails_its_units_and_says_why(tmp_path: Path) -> None:
    from valuescope.runs.unit_runner import run_model_units

    out = tmp_path / "run"
    plan = make_plan("readout-check", ["no-such-model"], out, profile="quick")
    run_model_units(plan, "no-such-model", ["readout-check"], "r", quiet=True)
    metas = [json.loads(p.read_text()) for p in sorted(out.rglob("unit.json"))]
    assert len(metas) == 3 and all(m["status"] in ("failed", "blocked") for m in metas)
    reasons = " ".join(m["reason"] for m in metas)
    assert "no-such-model" in reasons and "valuescope models" in reasons, reasons


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from test_failures import FaultProbe
    from valuescope.runs.config import make_plan
    from valuescope.runs.execute import execute
    from valuescope.studies import registry
    from valuescope.studies.protocol import Step

    registry.register(FaultProbe)
    if os.environ.get("HANG") == "1":
        import test_failures
        real = test_failures._after
        def hang(ctx):
            open({marker!r}, "w").close()
            time.sleep(120)
            return real(ctx)
        test_failures._after = hang
        FaultProbe.steps = lambda self, config: [
            Step("first", test_failures._first, needs="none"),
            Step("boom", test_failures._boom, needs="none"),
            Step("after", hang, needs="none"),
            Step("independent", test_failures._independent, needs="none"),
        ]
    execute(make_plan("fault-probe", ["tiny-gpt2"], {out!r}, profile="quick"), quiet=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_unit_then_resume_gives_identical_results(tmp_path: Path) -> None:
    marker, out, clean = tmp_path / "started", tmp_path / "run", tmp_path / "clean"
    env = {k: v for k, v in os.environ.items() if k != FAIL_ENV}
    tests = str(Path(__file__).parent)
    script = _CHILD.format(tests=tests, marker=str(marker), out=str(out))
    child = subprocess.Popen([sys.executable, "-c", script], env={**env, "HANG": "1"})
    deadline = time.monotonic() + 120
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the child never reached the hanging unit"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    finished = {p.parent.name for p in out.rglob("unit.json")}
    assert finished == {"first", "boom"}, "units before the kill are on disk, the one in flight is not"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=tests, marker=str(marker), out=str(clean))],
        env=env,
        check=True,
        timeout=300,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    status = {t["step"]: t["status"] for t in manifest["timings"]}
    assert status == {"first": "reused", "boom": "reused", "after": "computed", "independent": "computed",
                      "compare": "computed"}  # fmt: skip
    assert (out / "summary.json").read_text() == (clean / "summary.json").read_text()


@pytest.mark.slow
def test_under_ray_one_task_failing_does_not_stop_the_others(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'valuescope[ray]'")
    from valuescope.runs.outputs import assemble
    from valuescope.runs.ray_executor import run_on_ray

    out = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text("studies:\n  readout-check: {n_pairs: 8, n_boot: 50, n_perm: 20, folds: 4}\n")
    models = ["tiny-gpt2", "no-such-model"]
    plan = make_plan("readout-check", models, out, config_file=config, profile="quick")
    out.mkdir()
    run_on_ray(plan, ["readout-check"], "ray-run", quiet=True, address=None, resources={})
    assemble(plan, "ray-run")
    summary = json.loads((out / "summary.json").read_text())
    failed = {e["unit"] for e in summary["failed_units"]}
    assert {u for u in failed if "/no-such-model/" in u} == {
        f"readout-check/no-such-model/{s}" for s in ("ratings", "direction", "ablation")
    }
    assert "readout-check/_all/compare" in failed
    assert not any("/tiny-gpt2/" in u for u in failed)
    assert "rating_gap" in summary["readout-check"]["tiny-gpt2"]


def test_a_dead_ray_task_is_recorded_as_failed_units(tmp_path: Path) -> None:
    from valuescope.runs.unit_runner import record_unfinished

    out = tmp_path / "run"
    plan = make_plan("readout-check", ["tiny-gpt2"], out, profile="quick")
    record_unfinished(plan, "tiny-gpt2", ["readout-check"], "r", RuntimeError("worker died: out of memory"))
    metas = [json.loads(p.read_text()) for p in sorted(out.rglob("unit.json"))]
    assert len(metas) == 3 and {m["status"] for m in metas} == {"failed"}
    assert all(m["reason"] == "worker died: out of memory" for m in metas)
