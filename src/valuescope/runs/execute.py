"""Carry out a :class:`RunPlan`: check it, run every unit per model (local executor or Ray), then
assemble the run folder's outputs from the recorded units (see :mod:`valuescope.runs.outputs`)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from valuescope.runs.config import ConfigError, RunPlan
from valuescope.runs.outputs import assemble
from valuescope.runs.unit_runner import open_model, plan_record, run_model_units
from valuescope.runs.units import dump_json
from valuescope.stimuli.sources import DataSources
from valuescope.studies.protocol import Result

RUN_FILE = "run.json"


def prepare(plan: RunPlan, force: bool) -> None:
    """Check the output folder against the plan and record it; ``force`` discards the plan's studies' units.

    A folder holding a run of the same studies with a different config is refused unless ``force``;
    a non-empty folder that is not a run folder is always refused, so nothing unrelated is deleted.
    """
    root = plan.out
    record_path = root / RUN_FILE
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is a file; give a folder")
    old: dict[str, Any] = {}
    if record_path.is_file():
        old = json.loads(record_path.read_text("utf-8"))
    elif root.is_dir() and any(root.iterdir()):
        raise ConfigError(f"--out {root} is not empty and holds no valuescope run; choose another folder")
    new = plan_record(plan)
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
    if force:
        for name in new["configs"]:
            shutil.rmtree(root / "units" / name, ignore_errors=True)
    merged = dict(new)
    merged["configs"] = {**old.get("configs", {}), **new["configs"]} if not force else new["configs"]
    root.mkdir(parents=True, exist_ok=True)
    dump_json(record_path, merged)


def execute(
    plan: RunPlan,
    *,
    force: bool = False,
    quiet: bool = False,
    executor: str = "local",
    address: str | None = None,
    resources: dict[str, dict[str, float]] | None = None,
) -> dict[str, Result]:
    """Run ``plan`` into ``plan.out`` and return each study's :class:`Result` (the report is separate:
    ``valuescope.report.write_report(plan.out)``)."""
    from valuescope.models.loader import check_model_name

    DataSources(plan.data_root)  # a wrong data folder fails here, before any model work
    for model in plan.models:
        if model in plan.api_models:
            open_model(model, plan).check()
        else:
            check_model_name(model)
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r}; choose local or ray")
    prepare(plan, force)
    run_id = uuid.uuid4().hex
    studies = list(plan.configs)
    if executor == "ray":
        from valuescope.runs.ray_executor import run_on_ray

        run_on_ray(plan, studies, run_id, quiet, address, resources or {})
    else:
        for model in plan.models:
            run_model_units(plan, model, studies, run_id, quiet)
    return assemble(plan, run_id)


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
