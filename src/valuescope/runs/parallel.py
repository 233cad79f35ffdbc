"""Models side by side: the local executor's ``--jobs``, one worker process per model.

A small model does not use many cores well, so on a machine with cores to spare several models, each
on a share of them, can finish sooner than one after the other on all. On the project's 2-core
machines the gain is small (the quick main job took 423 s with ``--jobs 2`` against 448 s), so the
default stays 1. Each worker runs its model's units exactly as the sequential executor does, with
``torch threads // jobs`` threads (recorded in every unit), and writes them into the run folder; a
worker that dies has its unfinished units recorded as failed and the others go on.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import torch
from tqdm.auto import tqdm

from valuescope.runs.config import ConfigError, RunPlan
from valuescope.runs.unit_runner import RunDir, is_done, plan_record, record_unfinished, run_model_units
from valuescope.runs.units import read_unit_meta
from valuescope.studies.registry import get_study

POLL_SECONDS = 0.5


def check_jobs(jobs: int) -> int:
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ConfigError(
            f"--jobs {jobs!r}; give a positive number of worker processes (1: one model at a time)"
        )
    return jobs


def _model_task(record: dict[str, Any], model: str, studies: list[str], run_id: str, threads: int) -> None:
    from valuescope.runs.unit_runner import plan_from_record

    torch.set_num_threads(threads)
    run_model_units(plan_from_record(record), model, studies, run_id, quiet=True)


def _units(plan: RunPlan, studies: list[str]) -> list[tuple[str, str, str]]:
    return [
        (study, model, step.name)
        for model in plan.models
        for study in studies
        for step in get_study(study).steps(plan.configs[study])
    ]


def run_models_in_parallel(plan: RunPlan, studies: list[str], run_id: str, quiet: bool, jobs: int) -> None:
    """Run every model's units in worker processes, at most ``jobs`` at a time (``execute`` checks it
    with ``check_jobs``); returns when all have ended. Progress is one bar over all units, read from
    the run folder."""
    threads = max(1, torch.get_num_threads() // jobs)
    record = plan_record(plan)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    waiting = list(plan.models)
    running: dict[str, Any] = {}
    rd = RunDir(plan.out)
    units = _units(plan, studies)
    seen: set[tuple[str, str, str]] = set()
    bar = tqdm(
        total=len(units), desc=f"{len(plan.models)} models, {jobs} at a time", unit="step", disable=quiet
    )
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                model = waiting.pop(0)
                proc = spawn.Process(
                    target=_model_task,
                    args=(record, model, studies, run_id, threads),
                    name=f"valuescope {model}",
                )
                proc.start()
                running[model] = proc
            time.sleep(POLL_SECONDS)
            for model, proc in list(running.items()):
                if proc.is_alive():
                    continue
                proc.join()
                del running[model]
                if proc.exitcode != 0:
                    why = f"exit code {proc.exitcode}" if proc.exitcode > 0 else f"signal {-proc.exitcode}"
                    record_unfinished(
                        plan, model, studies, run_id, RuntimeError(f"the worker running {model} died ({why})")
                    )
            for unit in units:
                if unit in seen:
                    continue
                meta = read_unit_meta(rd.unit(*unit))
                if meta is not None and (meta.get("run_id") == run_id or is_done(meta)):
                    seen.add(unit)
                    bar.set_postfix_str(f"{unit[1]}: {unit[0]}/{unit[2]}")
                    bar.update()
    finally:
        for proc in running.values():  # interrupted: stop the workers, their units stay unfinished
            proc.terminate()
            proc.join()
        bar.close()
