"""The Ray executor: each (model, study) unit of a plan runs as a Ray task with declared resources.

Workers write their units into the same run folder, so it must be on a filesystem every worker
sees (always true for a local Ray instance). A task that dies is recorded as failed units and the
other tasks go on. Workers use the driver's torch thread count, so results do not depend on the
executor. Ray is an optional extra (``pip install valuescope[ray]``), imported only here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from tqdm.auto import tqdm

from valuescope.runs.config import ConfigError, RunPlan
from valuescope.runs.unit_runner import plan_record, record_unfinished
from valuescope.studies.registry import task_group, task_groups


def _unit_task(record: dict[str, Any], model: str, study: str, run_id: str, threads: int) -> tuple[str, str]:
    from valuescope.runs.unit_runner import plan_from_record, run_model_units

    torch.set_num_threads(threads)  # a Ray worker defaults to one thread: other float reductions
    plan = plan_from_record(record)
    run_model_units(plan, model, task_group(list(plan.configs), study), run_id, quiet=True)
    return model, study


@contextmanager
def ray_session(address: str | None, quiet: bool) -> Iterator[None]:
    """Ray started for the block unless already running (then left running); shut down if started here.

    A sweep runs all its variants in one session, so workers start (and import torch) once."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError("--executor ray needs Ray: pip install 'valuescope[ray]'") from e
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address, include_dashboard=False, log_to_driver=not quiet, logging_level=logging.WARNING
        )
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def run_on_ray(
    plan: RunPlan,
    studies: list[str],
    run_id: str,
    quiet: bool,
    address: str | None,
    resources: dict[str, dict[str, float]],
) -> None:
    """Send every (model, study) unit to Ray and wait for all of them, reporting each as it finishes."""
    record = plan_record(plan)
    threads = torch.get_num_threads()
    with ray_session(address, quiet):
        import ray

        task = ray.remote(_unit_task)
        pending = {}
        for model in plan.models:
            opts = dict(resources.get(model, resources.get("default", {"num_cpus": 1})))
            for study in task_groups(studies):
                ref = task.options(**opts).remote(record, model, study, run_id, threads)
                pending[ref] = (model, study)
        with tqdm(total=len(pending), desc="ray units", unit="unit", disable=quiet) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    model, study = pending.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as e:  # the worker died or raised outside a unit
                        record_unfinished(plan, model, task_group(studies, study), run_id, e)
                    bar.set_postfix_str(f"{study}/{model}")
                    bar.update()
