"""Carry out a :class:`RunPlan`: check it, run every unit per model (local executor or Ray), then
assemble the run folder's outputs from the recorded units (see :mod:`valuescope.runs.outputs`)."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from valuescope.runs.config import ConfigError, RunPlan
from valuescope.runs.lock import LOCK_FILE, RUN_FILE, run_lock
from valuescope.runs.outputs import assemble
from valuescope.runs.plan_checks import check_plan
from valuescope.runs.resume import merge_resolved, recompute_changed, redact_record, resolved_record
from valuescope.runs.unit_runner import plan_record, run_model_units
from valuescope.runs.units import clean_temp, dump_json
from valuescope.studies.protocol import Result


def prepare(plan: RunPlan, force: bool) -> list[str]:
    """Check the output folder against the plan and record it; ``force`` discards the plan's studies' units.

    A folder holding a run of the same studies with a different study config is refused unless
    ``force``; a non-empty folder that is not a run folder is always refused, so nothing unrelated is
    deleted. In a run folder, temp files of killed writers are removed, and the units that changes of
    the resolved run affect are removed (:mod:`valuescope.runs.resume`); returns those changes, one
    line each (also printed to stderr). Call it holding :func:`valuescope.runs.lock.run_lock`.
    """
    root = plan.out
    record_path = root / RUN_FILE
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is a file; give a folder")
    old: dict[str, Any] = {}
    if record_path.is_file():
        old = _read_run_record(record_path, force)
    elif root.is_dir() and any(p.name != LOCK_FILE for p in root.iterdir()):
        raise ConfigError(f"--out {root} is not empty and holds no valuescope run; choose another folder")
    if root.is_dir():
        clean_temp(root)
    new = redact_record(plan_record(plan))
    if old and not force:
        for name, cfg in new["configs"].items():
            before = old.get("configs", {}).get(name)
            if before is not None and before != cfg:
                diff = [k for k in sorted(set(cfg) | set(before)) if cfg.get(k) != before.get(k)]
                shown = ", ".join(f"{k}: {before.get(k)!r} -> {cfg.get(k)!r}" for k in diff[:4])
                raise ConfigError(
                    f"--out {root} holds a {name} run with a different config ({shown}); "
                    "use another --out, or --force to recompute"
                )
    changes: list[str] = []
    if force:
        for name in new["configs"]:
            shutil.rmtree(root / "units" / name, ignore_errors=True)
    else:
        changes = recompute_changed(plan, old.get("resolved", {}))
        if changes:
            listing = "".join(f"\n  - {line}" for line in changes)
            print(
                f"{root}: changed since the last run, recomputing what they affect:{listing}", file=sys.stderr
            )
    merged = dict(new)
    merged["configs"] = {**old.get("configs", {}), **new["configs"]} if not force else new["configs"]
    resolved = resolved_record(plan)
    merged["resolved"] = merge_resolved(old.get("resolved", {}), resolved) if not force else resolved
    root.mkdir(parents=True, exist_ok=True)
    dump_json(record_path, merged)
    return changes


def _read_run_record(path: Path, force: bool) -> dict[str, Any]:
    """``run.json``; a damaged one is an error naming it (with ``force`` it is replaced)."""
    try:
        record = json.loads(path.read_text("utf-8"))
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
    except (UnicodeDecodeError, ValueError) as e:
        if force:
            return {}
        raise ConfigError(
            f"{path} is damaged ({e}); rerun with --force to recompute this folder's studies, "
            "or choose another --out"
        ) from None
    return record


def execute(
    plan: RunPlan,
    *,
    force: bool = False,
    quiet: bool = False,
    executor: str = "local",
    address: str | None = None,
    resources: dict[str, dict[str, float]] | None = None,
    jobs: int = 1,
) -> dict[str, Result]:
    """Run ``plan`` into ``plan.out`` and return each study's :class:`Result` (the report is separate:
    ``valuescope.report.write_report(plan.out)``). ``jobs``: how many worker processes the local
    executor runs (model, study) tasks in (``runs.parallel``)."""
    from valuescope.runs.instrument_check import record_instrument_validity
    from valuescope.runs.parallel import check_jobs, run_tasks_in_parallel

    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r}; choose local or ray")
    n_jobs = check_jobs(jobs)
    check_plan(plan)  # everything the plan names, before any model work: one error listing all problems
    with run_lock(plan.out, plan.command):  # a second run on the same folder stops here
        prepare(plan, force)
        run_id = uuid.uuid4().hex
        studies = list(plan.configs)
        if executor == "ray":
            from valuescope.runs.ray_executor import run_on_ray

            run_on_ray(plan, studies, run_id, quiet, address, resources or {})
        elif n_jobs > 1:
            run_tasks_in_parallel(plan, studies, run_id, quiet, n_jobs)
        else:
            for model in plan.models:
                run_model_units(plan, model, studies, run_id, quiet)
        return assemble(plan, run_id, record_instrument_validity(plan))


def run_study(
    study: str,
    models: list[str] | str,
    out: str | Path | None = None,
    *,
    profile: str = "demo",
    config_file: str | Path | None = None,
    data: str | Path | None = None,
    force: bool = False,
    quiet: bool = False,
) -> Result | dict[str, Result]:
    """Python API of ``valuescope run``: one study's :class:`Result` (or all of them for ``"all"``).

    Without ``out`` the run folder is a temporary directory that is removed afterwards; with it,
    ``valuescope.report.write_report(out)`` renders the page.
    """
    import tempfile

    from valuescope.runs.config import make_plan

    model_list = [models] if isinstance(models, str) else list(models)
    with tempfile.TemporaryDirectory(prefix="valuescope-run-") as tmp:
        target = Path(out) if out is not None else Path(tmp) / "run"
        plan = make_plan(study, model_list, target, config_file=config_file, profile=profile, data=data)
        results = execute(plan, force=force, quiet=quiet)
    return results if study == "all" else results[study]
