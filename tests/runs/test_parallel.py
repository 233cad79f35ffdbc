"""Tasks side by side (``--jobs``): the same numbers as one after the other, every unit records its
threads, and a worker that dies costs only its own task's units."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from test_sweep import assert_same_numbers

from valuescope.runs.config import ConfigError, make_plan
from valuescope.runs.execute import execute
from valuescope.runs.parallel import check_jobs
from valuescope.studies.registry import get_study, task_groups

MODELS = ["tiny-gpt2", "tiny-llama"]


def _summary(out: Path) -> dict[str, object]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_units"] == []
    return summary


@pytest.mark.slow
def test_two_workers_give_the_numbers_of_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    execute(make_plan("readout-check", MODELS, one, profile="quick"), quiet=True, jobs=1)
    execute(make_plan("readout-check", MODELS, two, profile="quick"), quiet=True, jobs=2)
    assert_same_numbers(_summary(one), _summary(two))
    metas = [json.loads(p.read_text()) for p in (two / "units").rglob("unit.json")]
    per_model = [m for m in metas if m["model"] in MODELS]
    assert len(per_model) == 6 and all(m["status"] == "computed" for m in per_model)
    assert {m["torch_threads"] for m in per_model} == {max(1, _threads() // 2)}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


@pytest.mark.slow
def test_a_worker_that_dies_costs_only_its_task(tmp_path: Path) -> None:
    out = tmp_path / "run"
    plan = make_plan("readout-check", MODELS, out, profile="quick")

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for child in multiprocessing.active_children():
                if child.name == "valuescope worker" and child.pid is not None:
                    child.kill()  # as the kernel's OOM killer would
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    execute(plan, quiet=True, jobs=2)
    killer.join()
    summary = json.loads((out / "summary.json").read_text())
    failed = {e["unit"]: e for e in summary["failed_units"] if e["model"] != "_all"}  # compare needs all
    dead = {u.split("/")[1] for u in failed}
    assert len(dead) == 1, failed  # one (model, study) task: the one the killed worker was given
    (model,) = dead
    assert set(failed) == {f"readout-check/{model}/{s}" for s in ("ratings", "direction", "ablation")}
    assert all("signal 9" in e["reason"] and "readout-check on" in e["reason"] for e in failed.values())
    (other,) = set(MODELS) - dead
    assert "rating_gap" in summary["readout-check"][other]
    # a rerun recomputes the dead worker's units only
    execute(make_plan("readout-check", MODELS, out, profile="quick"), quiet=True, jobs=2)
    assert json.loads((out / "summary.json").read_text())["failed_units"] == []


def test_tasks_go_largest_study_first_and_a_worker_keeps_its_model(tmp_path: Path) -> None:
    from valuescope.runs.parallel import next_task, pending_tasks

    plan = make_plan("all", MODELS, tmp_path / "run", profile="quick")
    tasks = pending_tasks(plan, list(plan.configs))
    groups = task_groups(list(plan.configs))
    assert groups["atlas"] == ["mechanisms", "atlas"] and "mechanisms" not in groups  # run by one worker
    assert len(tasks) == len(MODELS) * len(groups)
    steps = [sum(len(get_study(s).steps(plan.configs[s])) for s in groups[study]) for _, study in tasks]
    assert steps == sorted(steps, reverse=True)
    assert [m for m, _ in tasks[:2]] == MODELS
    queue = [("a", "x"), ("b", "x"), ("a", "y"), ("b", "y")]
    assert next_task(queue, "b", 2) == ("b", "x") and next_task(queue, "b", 2) == ("a", "x")
    assert next_task(queue, None, 2) == ("a", "y") and queue == [("b", "y")]


def test_jobs_are_checked_where_they_enter(tmp_path: Path) -> None:
    assert check_jobs(2) == 2
    for bad in (0, "0", "abc", "auto", True):
        with pytest.raises(ConfigError, match="--jobs"):
            check_jobs(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--jobs -2"):
        execute(make_plan("readout-check", MODELS, tmp_path / "run", profile="quick"), jobs=-2)
    assert not (tmp_path / "run").exists()
