"""What a resumed run must recompute: the whole resolved run compared with the one recorded in ``run.json``.

Besides each study's config (compared by :func:`valuescope.runs.execute.prepare`), a study's units
depend on its *resolved* settings: each model's load options or API spec (base URL with credentials
redacted, server model, endpoint, log-probability and sampling settings), the models its config names
(a judge), the data folder and the valuescope version, recorded per study under ``resolved``. The
data files a unit read are recorded in its ``unit.json`` with their SHA-256. On resume, a change
removes exactly the units it affects: a model's units when its options or spec changed, every unit of
a study when the version or data folder did, and a unit (with the later steps of its model and study)
when a file it read changed. A study's cross-model compare unit goes whenever any of its inputs did,
or will be computed in this run (unfinished, failed or blocked).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path
from typing import Any

from valuescope.data.sources import DATA_ENV
from valuescope.files import sha256_file
from valuescope.runs.backends.openai.spec import ApiSpec, redact_url
from valuescope.runs.config import RunPlan
from valuescope.runs.plan_checks import SELF, model_fields
from valuescope.runs.unit_runner import is_done
from valuescope.runs.units import read_unit_meta, slug
from valuescope.stats.metrics import ALL_MODELS
from valuescope.studies.registry import get_study

API_RESULT_FIELDS = ("base_url", "model", "chat", "top_logprobs", "n_samples")
"""The API spec fields that change an API model's answers (timeouts, retries and the cache do not)."""


def valuescope_version() -> str | None:
    try:
        return importlib.metadata.version("valuescope")
    except importlib.metadata.PackageNotFoundError:
        return None


def model_record(plan: RunPlan, name: str) -> dict[str, Any]:
    """What decides model ``name``'s outputs in ``plan``: its API spec or its load options."""
    if name in plan.api_models:
        values = plan.api_models[name]
        try:
            spec = ApiSpec(name=name, **values)
        except (TypeError, ValueError):
            return {"api": {k: values.get(k) for k in API_RESULT_FIELDS}}
        api = {k: getattr(spec, k) for k in API_RESULT_FIELDS}
        api["base_url"] = spec.shown_url
        return {"api": api}
    return {"options": dict(plan.model_options.get(name, {}))}


def data_root(plan: RunPlan) -> str | None:
    root = plan.data_root if plan.data_root is not None else os.environ.get(DATA_ENV) or None
    return str(Path(root).expanduser().resolve()) if root else None


def resolved_record(plan: RunPlan) -> dict[str, dict[str, Any]]:
    """Per study of ``plan``: the resolved settings its units depend on (see the module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for study, config in plan.configs.items():
        named = [v for v in model_fields(config).values() if v != SELF]
        models = {name: model_record(plan, name) for name in dict.fromkeys([*plan.models, *named])}
        out[study] = {
            "valuescope_version": valuescope_version(),
            "data_root": data_root(plan),
            "models": models,
        }
    return out


def merge_resolved(old: dict[str, Any], new: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``run.json``'s ``resolved`` after this run: a study's models not in this run keep their record."""
    merged = dict(old)
    for study, record in new.items():
        before = old.get(study, {}).get("models", {})
        merged[study] = {**record, "models": {**before, **record["models"]}}
    return merged


def redact_record(record: dict[str, Any]) -> dict[str, Any]:
    """A plan record with credentials in API base URLs redacted (what ``run.json`` may hold)."""
    api = {
        name: {**values, "base_url": redact_url(values["base_url"])}
        if isinstance(values.get("base_url"), str)
        else values
        for name, values in record.get("api_models", {}).items()
    }
    return {**record, "api_models": api}


def recompute_changed(plan: RunPlan, old: dict[str, Any]) -> list[str]:
    """Remove the units of ``plan``'s studies that the changes since ``old`` (``run.json``'s
    ``resolved``) affect, and the data-file changes' units; returns one line per change."""
    root = plan.out
    new = resolved_record(plan)
    lines: list[str] = []
    for study, record in new.items():
        before = old.get(study)
        stale: set[str] = set()  # models whose units all go
        if before is not None:
            for key, label in (("valuescope_version", "valuescope version"), ("data_root", "data folder")):
                if key in before and before[key] != record[key]:
                    lines.append(f"{study}: {label} {before[key]} -> {record[key]}: every unit recomputed")
                    stale.add(ALL_MODELS)
            named = set(model_fields(plan.configs[study]).values())
            for name, now in record["models"].items():
                then = before.get("models", {}).get(name)
                if then is None or then == now:
                    continue
                what = _difference(then, now)
                if name in named:
                    lines.append(f"{study}: {name} (named by the config) {what}: every unit recomputed")
                    stale.add(ALL_MODELS)
                else:
                    lines.append(f"{study}: {name} {what}: its units recomputed")
                    stale.add(name)
        removed = _remove_models(root, study, plan.models if ALL_MODELS in stale else sorted(stale))
        removed |= _remove_changed_data(root, plan, study, lines)
        if removed or not _inputs_done(root, plan, study):
            for compare in (root / "units" / study / slug(ALL_MODELS)).glob("compare-*"):
                shutil.rmtree(compare, ignore_errors=True)
    return lines


def _difference(then: dict[str, Any], now: dict[str, Any]) -> str:
    kind = "api" if "api" in now else "options"
    a, b = then.get(kind, then), now.get(kind, {})
    if not isinstance(a, dict):
        a = {}
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    shown = ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:4])
    return f"{'API spec' if kind == 'api' else 'model options'} changed ({shown})"


def _remove_models(root: Path, study: str, models: list[str]) -> bool:
    removed = False
    for model in models:
        folder = root / "units" / study / slug(model)
        if folder.is_dir():
            shutil.rmtree(folder)
            removed = True
        info = root / "units" / "_models" / f"{slug(model)}.json"
        info.unlink(missing_ok=True)
    return removed


def _inputs_done(root: Path, plan: RunPlan, study: str) -> bool:
    """Whether every per-model unit of ``study`` is recorded as done (so none is computed this run)."""
    for model in plan.models:
        for step in get_study(study).steps(plan.configs[study]):
            meta = read_unit_meta(root / "units" / study / slug(model) / step.name)
            if meta is None or not is_done(meta):
                return False
    return True


def _remove_changed_data(root: Path, plan: RunPlan, study: str, lines: list[str]) -> bool:
    """Remove each unit that read a data file that changed since (and the later steps of its model)."""
    hashes: dict[str, str | None] = {}

    def current(path: str) -> str | None:
        if path not in hashes:
            p = Path(path)
            hashes[path] = sha256_file(p) if p.is_file() else None
        return hashes[path]

    removed = False
    steps = [s.name for s in get_study(study).steps(plan.configs[study])]
    for model in plan.models:
        folder = root / "units" / study / slug(model)
        for i, step in enumerate(steps):
            meta = read_unit_meta(folder / step)
            if meta is None:
                continue
            files = meta.get("data_files") or {}
            changed = [p for p, digest in files.items() if current(p) != digest]
            if not changed:
                continue
            state = "changed" if current(changed[0]) is not None else "is gone"
            later = f" and its {len(steps) - i - 1} later steps" if i + 1 < len(steps) else ""
            lines.append(f"{study}/{model}/{step}: data file {changed[0]} {state}: recomputed{later}")
            for name in steps[i:]:
                shutil.rmtree(folder / name, ignore_errors=True)
            removed = True
            break
    return removed
