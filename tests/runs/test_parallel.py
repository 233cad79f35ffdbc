"""Models side by side (``--jobs``): the same numbers as one after the other, every unit records its
threads, and a worker that dies costs only its own model's units."""

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

MODELS = ["tiny-gpt2", "tiny-llama"]


def _summary(out: Path) -> dict[str, object]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_units"] == []
    return summary


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


def test_a_worker_that_dies_costs_only_its_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    plan = make_plan("readout-check", MODELS, out, profile="quick")

    def kill_llama_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for child in multiprocessing.active_children():
                if child.name == "valuescope tiny-llama" and child.pid is not None:
                    child.kill()  # as the kernel's OOM killer would
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_llama_worker)
    killer.start()
    execute(plan, quiet=True, jobs=2)
    killer.join()
    summary = json.loads((out / "summary.json").read_text())
    failed = {e["unit"]: e for e in summary["failed_units"]}
    assert {u for u in failed if "/tiny-llama/" in u} == {
        f"readout-check/tiny-llama/{s}" for s in ("ratings", "direction", "ablation")
    }
    assert "signal 9" in failed["readout-check/tiny-llama/ratings"]["reason"]
    assert not any("/tiny-gpt2/" in u for u in failed)
    assert "rating_gap" in summary["readout-check"]["tiny-gpt2"]
    # a rerun recomputes the dead worker's units only
    execute(make_plan("readout-check", MODELS, out, profile="quick"), quiet=True, jobs=2)
    assert json.loads((out / "summary.json").read_text())["failed_units"] == []


def test_jobs_are_checked_where_they_enter(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--jobs 0"):
        check_jobs(0)
    with pytest.raises(ConfigError, match="--jobs -2"):
        execute(make_plan("readout-check", MODELS, tmp_path / "run", profile="quick"), jobs=-2)
    assert not (tmp_path / "run").exists()
