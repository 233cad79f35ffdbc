"""Units of a plan: run a model's unfinished units, read finished ones back, and the cross-model unit.

Shared by the local executor, the Ray executor and sweeps; every result goes through the unit
folders on disk (see :mod:`valuescope.runs.units`), so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from valuescope.runs.config import RunPlan
from valuescope.runs.units import dump_json, read_unit, slug, unit_seed, write_unit
from valuescope.stimuli.sources import DataSources
from valuescope.studies.metrics import ALL_MODELS
from valuescope.studies.protocol import Artifacts, Step, StudyConfig, UnitContext
from valuescope.studies.registry import get_study


class RunDir:
    """Paths inside a run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def unit(self, study: str, model: str, step: str) -> Path:
        return self.root / "units" / study / slug(model) / step

    def model_info(self, model: str) -> Path:
        return self.root / "units" / "_models" / f"{slug(model)}.json"


def plan_record(plan: RunPlan) -> dict[str, Any]:
    """The JSON form of a plan (what ``run.json`` holds and Ray workers receive)."""
    return {
        "models": plan.models,
        "configs": {name: cfg.model_dump(mode="json") for name, cfg in plan.configs.items()},
        "data_root": plan.data_root,
        "api_models": plan.api_models,
        "model_options": plan.model_options,
        "command": plan.command,
        "out": str(plan.out),
    }


def plan_from_record(record: dict[str, Any]) -> RunPlan:
    configs = {
        name: get_study(name).Config.model_validate(values) for name, values in record["configs"].items()
    }
    return RunPlan(
        Path(record["out"]),
        list(record["models"]),
        configs,
        record.get("data_root"),
        dict(record.get("api_models", {})),
        record.get("command", ""),
        dict(record.get("model_options", {})),
    )


def open_model(model: str, plan: RunPlan) -> Any:
    """A ``LanguageModel``, or an API model for names declared under ``api_models``."""
    if model in plan.api_models:
        from valuescope.runs.openai_backend import ApiModel, ApiSpec

        return ApiModel(ApiSpec(name=model, **plan.api_models[model]))
    from valuescope import load_model

    return load_model(model, **plan.model_options.get(model, {}))


def _merge(parts: list[Artifacts], where: str) -> Artifacts:
    out = Artifacts()
    for part in parts:
        for field in ("tables", "tensors", "generations", "metrics", "data"):
            mine, theirs = getattr(out, field), getattr(part, field)
            clash = set(mine) & set(theirs)
            if clash:
                raise ValueError(f"{where}: two steps both produce {field} {sorted(clash)}")
            mine.update(theirs)
    return out


def _steps(study_name: str, config: StudyConfig) -> list[Step]:
    return get_study(study_name).steps(config)


def run_model_units(
    plan: RunPlan, model: str, studies: list[str], run_id: str, quiet: bool, position: int = 0
) -> None:
    """Run every unfinished unit of ``model`` in ``studies``; the model loads only if a unit needs it."""
    rd = RunDir(plan.out)
    holder: dict[str, Any] = {}

    def load() -> Any:
        if "lm" not in holder:
            holder["lm"] = open_model(model, plan)
            dump_json(rd.model_info(model), holder["lm"].describe())
        return holder["lm"]

    is_api = model in plan.api_models
    todo = [(s, step) for s in studies for step in _steps(s, plan.configs[s])]
    bar = tqdm(todo, desc=model, unit="step", disable=quiet, position=position, leave=True)
    try:
        previous: dict[str, dict[str, Artifacts]] = {s: {} for s in studies}
        for study_name, step in bar:
            bar.set_postfix_str(f"{study_name}/{step.name}")
            folder = rd.unit(study_name, model, step.name)
            got = read_unit(folder)
            if got is None:
                _run_unit(plan, study_name, step, model, run_id, quiet, previous[study_name], load, is_api)
                got = read_unit(folder)
                assert got is not None
            artifacts, meta = got
            if meta.get("status") != "skipped":
                previous[study_name][step.name] = artifacts
    finally:
        bar.close()
        holder.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _run_unit(
    plan: RunPlan,
    study_name: str,
    step: Step,
    model: str,
    run_id: str,
    quiet: bool,
    previous: dict[str, Artifacts],
    load: Callable[[], Any],
    is_api: bool,
) -> None:
    config = plan.configs[study_name]
    seed = unit_seed(config.seed, study_name, model, step.name)
    meta: dict[str, Any] = {"study": study_name, "model": model, "step": step.name, "seed": seed}
    folder = RunDir(plan.out).unit(study_name, model, step.name)
    if is_api and step.needs == "internals":
        meta.update(status="skipped", note="API model: no access to internals", seconds=0.0, run_id=run_id)
        write_unit(folder, Artifacts(), meta)
        return
    data = DataSources(plan.data_root)
    ctx = UnitContext(
        study_name,
        model,
        step.name,
        config,
        seed,
        data,
        dict(previous),
        not quiet,
        load,
        open_other=lambda name: open_model(name, plan),
    )
    started = time.perf_counter()
    with _seeded(seed):
        artifacts = step.run(ctx)
    if not isinstance(artifacts, Artifacts):
        raise TypeError(f"{study_name}/{step.name} returned {type(artifacts).__name__}, not Artifacts")
    artifacts.validate(f"{study_name}/{model}/{step.name}")
    meta.update(
        status="computed",
        seconds=round(time.perf_counter() - started, 3),
        finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        run_id=run_id,
        data_files=data.read,
    )
    write_unit(folder, artifacts, meta)


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def model_artifacts(plan: RunPlan, study_name: str, model: str) -> tuple[Artifacts, list[dict[str, Any]]]:
    """All recorded steps of one model in one study, merged, with their unit metadata."""
    rd = RunDir(plan.out)
    parts, metas = [], []
    for step in _steps(study_name, plan.configs[study_name]):
        got = read_unit(rd.unit(study_name, model, step.name))
        if got is None:
            raise RuntimeError(f"unit {study_name}/{model}/{step.name} is not finished; run again to resume")
        parts.append(got[0])
        metas.append(got[1])
    return _merge(parts, f"{study_name}/{model}"), metas


def compare_step(plan: RunPlan, study_name: str, run_id: str) -> tuple[Artifacts, dict[str, Any]]:
    """The cross-model unit of a study (recorded once per set of models)."""
    models_key = hashlib.sha256(json.dumps(plan.models).encode()).hexdigest()[:10]
    folder = RunDir(plan.out).unit(study_name, ALL_MODELS, f"compare-{models_key}")
    got = read_unit(folder)
    if got is None:
        config = plan.configs[study_name]
        per_model = {m: model_artifacts(plan, study_name, m)[0] for m in plan.models}
        seed = unit_seed(config.seed, study_name, ALL_MODELS)
        started = time.perf_counter()
        artifacts = get_study(study_name).compare(per_model, config, seed)
        artifacts.validate(f"{study_name}/{ALL_MODELS}")
        meta = {
            "study": study_name,
            "model": ALL_MODELS,
            "step": "compare",
            "seed": seed,
            "status": "computed",
            "seconds": round(time.perf_counter() - started, 3),
            "run_id": run_id,
        }
        write_unit(folder, artifacts, meta)
        got = read_unit(folder)
        assert got is not None
    return got
