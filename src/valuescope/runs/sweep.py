"""Sweeps: models x studies x config overrides, one run folder per override (a *variant*).

A sweep file::

    out: runs/sweep1             # variants go to runs/sweep1/<variant>
    models: [gemma-3-270m, smollm2-135m-instruct]
    studies: [readout-check]     # or "all"
    profile: quick
    executor: local              # or ray (then optionally `address:`)
    resources:                   # Ray resources per model; `default` for the rest
      default: {num_cpus: 1}
      gemma-3-270m: {num_cpus: 2, num_gpus: 0}
    config: {seed: 0}            # a run config (as for `valuescope run --config`), shared by all variants
    variants:
      base: {}
      more_pairs: {readout-check: {n_pairs: 24}}
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from valuescope.runs.config import ConfigError, RunFile, RunPlan, build_plan, format_validation, yaml_error
from valuescope.runs.execute import execute, prepare
from valuescope.runs.lock import run_lock
from valuescope.runs.plan_checks import check_plan
from valuescope.runs.unit_runner import run_model_units
from valuescope.studies.protocol import Profile
from valuescope.studies.registry import studies

VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
"""A variant name is one folder name under the sweep's ``out`` (so it cannot leave it)."""


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str
    models: list[str]
    studies: list[str] | str = "all"
    profile: Profile | None = None
    executor: str = "local"
    address: str | None = None
    resources: dict[str, dict[str, float]] = {}
    config: dict[str, Any] = {}
    variants: dict[str, dict[str, dict[str, Any]]] = {"base": {}}


def load_sweep(path: str | Path) -> tuple[SweepFile, list[RunPlan]]:
    """Validate a sweep file and resolve one plan per variant, before any model work."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sweep file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text("utf-8")) or {}
        spec = SweepFile.model_validate(raw)
        run_file = RunFile.model_validate(spec.config)
    except yaml.YAMLError as e:
        raise yaml_error(e, p) from None
    except ValidationError as e:
        raise ConfigError(format_validation(e, str(p))) from None
    names = list(studies()) if spec.studies == "all" else list(spec.studies)
    unknown = [n for n in names if n not in studies()]
    if unknown:
        raise ConfigError(f"{p}: studies: unknown study {unknown[0]!r}; known: {', '.join(studies())}")
    if spec.executor not in ("local", "ray"):
        raise ConfigError(f"{p}: executor: {spec.executor!r}; choose local or ray")
    plans = []
    for variant, overrides in spec.variants.items():
        if not VARIANT_NAME.match(variant):
            raise ConfigError(
                f"{p}: variants.{variant}: a variant name is a folder under out ({spec.out}); "
                "use letters, digits, '.', '_' and '-' only, starting with a letter or digit"
            )
        bad = [s for s in overrides if s not in names]
        if bad:
            raise ConfigError(f"{p}: variants.{variant}: {bad[0]!r} is not one of the sweep's studies")
        studies_cfg = {n: {**run_file.studies.get(n, {}), **overrides.get(n, {})} for n in names}
        variant_file = run_file.model_copy(update={"studies": studies_cfg})
        where = f"{p}: variants.{variant}"
        out = Path(spec.out) / variant
        plans.append(
            build_plan(names, spec.models, out, variant_file, spec.profile, None, f"sweep {p}", where)
        )
    return spec, plans


def run_sweep(
    loaded: tuple[SweepFile, list[RunPlan]],
    *,
    force: bool = False,
    quiet: bool = False,
    executor: str | None = None,
    address: str | None = None,
) -> list[Path]:
    """Run every variant; returns the run folders (reports are written by the caller).

    Locally, one model at a time across all variants, so each model loads once."""
    spec, plans = loaded
    chosen = executor or spec.executor
    if chosen == "ray":
        from valuescope.runs.ray_executor import ray_session

        with ray_session(address or spec.address, quiet):  # one session: workers start once
            for plan in plans:
                execute(plan, force=force, quiet=quiet, executor="ray", address=address or spec.address,
                        resources=spec.resources)  # fmt: skip
        return [plan.out for plan in plans]
    import uuid

    from valuescope.runs.instrument_check import record_instrument_validity
    from valuescope.runs.outputs import assemble

    for plan in plans:
        check_plan(plan)
    with ExitStack() as locks:
        for plan in plans:
            locks.enter_context(run_lock(plan.out, plan.command))
        for plan in plans:
            prepare(plan, force)
        run_id = uuid.uuid4().hex
        for model in spec.models:
            for plan in plans:
                run_model_units(plan, model, list(plan.configs), run_id, quiet)
        for plan in plans:
            assemble(plan, run_id, record_instrument_validity(plan))
    return [plan.out for plan in plans]
