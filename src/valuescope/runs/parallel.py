"""Studies and models side by side: the local executor's ``--jobs``, a few worker processes.

A small model does not use many cores well (on the project's 2-core machines a rating runs only
1.55x and generation 1.4x faster on two threads than on one), so on a machine with many cores
several processes, each on a share of them, can get more done than one process on all. The work is
split into tasks, one per (model, study): a study's units depend only on earlier units of the same
study and model, so tasks are independent. Each worker holds one model at a time and is handed the
next task as it finishes one, the largest studies first and, among the next few, its own model's
first (no reload), so the load evens out.

Each worker runs its task's units exactly as the sequential executor does, with ``torch threads //
jobs`` threads (recorded in every unit), and writes them into the run folder. A worker that dies
(killed for memory, a crash in native code) has its task's unfinished units recorded as failed; a new
worker takes the remaining tasks.

On the project's 2-core machines it does not pay: two workers on one thread each took the quick
main job 333 s against 336 s one unit at a time on two threads (each unit ran 1.9x slower beside
another than alone on two threads: the two processes compete for the same cores and memory), so the
default is 1. It is for machines with cores that a small model leaves idle.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import torch
from tqdm.auto import tqdm

from valuescope.runs.config import ConfigError, RunPlan
from valuescope.runs.unit_runner import (
    HeldModel,
    RunDir,
    is_done,
    plan_record,
    record_unfinished,
    run_model_units,
)
from valuescope.runs.units import read_unit_meta
from valuescope.studies.registry import get_study, task_group, task_groups

POLL_SECONDS = 0.5

Task = tuple[str, str]
"""(model, study): every unit of one study on one model, in order."""


def check_jobs(jobs: int) -> int:
    """``jobs`` as a positive number of workers; ConfigError naming ``--jobs`` otherwise."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ConfigError(
            f"--jobs {jobs!r}; give a positive number of worker processes (1: one unit at a time)"
        )
    return jobs


def _units(plan: RunPlan, tasks: list[Task]) -> list[tuple[str, str, str]]:
    return [
        (study, model, step.name)
        for model, leader in tasks
        for study in task_group(list(plan.configs), leader)
        for step in get_study(study).steps(plan.configs[study])
    ]


def pending_tasks(plan: RunPlan, studies: list[str]) -> list[Task]:
    """The (model, study) pairs with a unit still to run, the studies with the most steps first (they
    take longest), each study's models in the plan's order."""
    rd = RunDir(plan.out)
    groups = task_groups(studies)
    size = {s: sum(len(get_study(g).steps(plan.configs[g])) for g in group) for s, group in groups.items()}
    tasks = []
    for study in sorted(groups, key=lambda s: -size[s]):
        for model in plan.models:
            metas = [read_unit_meta(rd.unit(*u)) for u in _units(plan, [(model, study)])]
            if any(m is None or not is_done(m) for m in metas):
                tasks.append((model, study))
    return tasks


def next_task(tasks: list[Task], holding: str | None, window: int) -> Task:
    """Take a worker's next task from ``tasks`` (largest first): among the first ``window`` the first of
    the model it holds (no reload), else the first."""
    index = next((i for i, (model, _) in enumerate(tasks[:window]) if model == holding), 0)
    return tasks.pop(index)


def _worker(record: dict[str, Any], run_id: str, threads: int, conn: Connection) -> None:
    """Run the tasks the parent sends (``None``: stop), answering each with ``done``."""
    from valuescope.runs.unit_runner import plan_from_record

    torch.set_num_threads(threads)
    plan = plan_from_record(record)
    held = HeldModel(plan)
    try:
        while (task := conn.recv()) is not None:
            model, study = task
            run_model_units(plan, model, task_group(list(plan.configs), study), run_id, quiet=True, held=held)
            conn.send(("done", task))
    finally:
        held.release()


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: Task | None = None
    holding: str | None = None


def run_tasks_in_parallel(plan: RunPlan, studies: list[str], run_id: str, quiet: bool, jobs: int) -> None:
    """Run every pending (model, study) task in at most ``jobs`` worker processes; returns when all
    have ended. Progress is one bar over all units, read from the run folder."""
    tasks = pending_tasks(plan, studies)
    jobs = min(jobs, len(tasks))
    if jobs <= 1:
        for model in plan.models:
            run_model_units(plan, model, studies, run_id, quiet)
        return
    from valuescope.models.loader import prepare_weights

    for model in plan.models:  # once, here, rather than in several workers at the same time
        if model not in plan.api_models:
            prepare_weights(model)
    threads = max(1, torch.get_num_threads() // jobs)
    record = plan_record(plan)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    rd = RunDir(plan.out)
    units = _units(plan, tasks)
    seen: set[tuple[str, str, str]] = set()
    workers: list[_Worker] = []
    bar = tqdm(total=len(units), desc=f"{len(tasks)} study x model tasks, {jobs} at a time", unit="step",
               disable=quiet)  # fmt: skip

    def start_worker() -> None:
        parent, child = spawn.Pipe()
        proc = spawn.Process(target=_worker, args=(record, run_id, threads, child), name="valuescope worker")
        proc.start()
        child.close()
        workers.append(_Worker(proc, parent))

    def hand_out(w: _Worker) -> None:
        w.task = next_task(tasks, w.holding, jobs) if tasks else None
        try:
            w.conn.send(w.task)
        except OSError:  # it died before taking it: the task waits for another worker
            if w.task is not None:
                tasks.insert(0, w.task)
            w.task = None
            return
        if w.task is not None:
            w.holding = w.task[0]

    try:
        for _ in range(jobs):
            start_worker()
            hand_out(workers[-1])
        while workers:
            ready = wait([w.conn for w in workers] + [w.process.sentinel for w in workers], POLL_SECONDS)
            for w in list(workers):
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        message = None  # it died while answering: its sentinel says how
                    if message is not None:
                        hand_out(w)
                if w.process.sentinel in ready and not w.process.is_alive():
                    w.process.join()
                    workers.remove(w)
                    code = w.process.exitcode
                    if w.task is not None or code != 0:
                        why = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
                        if w.task is not None:
                            model, study = w.task
                            error = RuntimeError(f"the worker running {study} on {model} died ({why})")
                            group = task_group(list(plan.configs), study)
                            record_unfinished(plan, model, group, run_id, error)
                        if tasks:
                            start_worker()
                            hand_out(workers[-1])
            for unit in units:
                if unit in seen:
                    continue
                meta = read_unit_meta(rd.unit(*unit))
                if meta is not None and (meta.get("run_id") == run_id or is_done(meta)):
                    seen.add(unit)
                    bar.set_postfix_str(f"{unit[1]}: {unit[0]}/{unit[2]}")
                    bar.update()
    finally:
        for w in workers:  # interrupted: stop the workers, their units stay unfinished
            w.process.terminate()
            w.process.join()
        bar.close()
