"""The run folder's outputs, assembled from recorded units: tables/, figures/, tensors/, generations/,
``summary.json`` and ``manifest.json`` (what produced them, exactly)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from valuescope.data.sources import DataSources
from valuescope.runs.config import RunPlan
from valuescope.runs.unit_runner import (
    BLOCKED,
    FAILED,
    TRACEBACK_FILE,
    RunDir,
    compare_step,
    is_done,
    model_artifacts,
    one_line,
    unit_id,
)
from valuescope.runs.units import dump_json, slug
from valuescope.stats.metrics import ALL_MODELS, below_gate, missing
from valuescope.studies.protocol import Artifacts, Result, Study
from valuescope.studies.registry import get_study
from valuescope.tensors import save_tensors, write_bytes_atomic

LIBRARIES = (
    "valuescope", "torch", "transformers", "tokenizers", "safetensors", "accelerate", "gguf", "numpy",
    "pandas", "scipy", "matplotlib", "pydantic", "httpx", "ray",
)  # fmt: skip


def assemble(
    plan: RunPlan, run_id: str, instruments: Mapping[str, str | None] | None = None
) -> dict[str, Result]:
    """Write every output of the plan's studies from their units; returns the Results.

    Always writes ``summary.json`` and ``manifest.json``: units that failed or were blocked are
    listed under ``failed_units`` (in both) and their studies report what did finish. ``instruments``
    maps each validated instrument to None (it passes its gate) or what failed: metrics resting on an
    instrument that failed or was not validated read :data:`~valuescope.stats.metrics.BELOW_GATE`,
    before the findings are written from them.
    """
    root = plan.out
    results: dict[str, Result] = {}
    outputs: dict[str, Any] = {}
    timings: list[dict[str, Any]] = []
    data_files: dict[str, str] = {}
    seeds: dict[str, dict[str, int]] = {}
    failed: list[dict[str, Any]] = []
    for name, config in plan.configs.items():
        study = get_study(name)
        per_model: dict[str, Artifacts] = {}
        complete: list[str] = []
        seeds[name] = {}
        not_run: list[str] = []
        for model in plan.models:
            artifacts, metas = model_artifacts(plan, name, model)
            per_model[model] = artifacts
            model_failed = [m for m in metas if not is_done(m)]
            if not model_failed:
                complete.append(model)
            for meta in metas:
                if not is_done(meta):
                    failed.append(failed_unit(meta))
                    not_run.append(unit_id(name, model, meta["step"]))
                    continue
                timings.append(_timing(meta, run_id))
                data_files.update(meta.get("data_files", {}))
                seeds[name][f"{model}/{meta['step']}"] = meta["seed"]
        _note_missing_data(study, per_model, DataSources(plan.data_root))
        compared, meta = compare_step(plan, name, run_id, not_run)
        if is_done(meta):
            timings.append(_timing(meta, run_id))
            seeds[name][f"{ALL_MODELS}/compare"] = meta["seed"]
        else:
            failed.append(failed_unit(meta))
        if _nonempty(compared):
            per_model[ALL_MODELS] = compared
        verdicts = {**(instruments or {}), **file_verdicts(study.validity_files(config))}
        for artifacts in per_model.values():
            gate_instrument_metrics(study, config, artifacts, verdicts)
        result = Result(name, config, per_model)
        rd = RunDir(root)
        result.figures = _guarded(
            study.make_figures, result, complete, rd.unit(name, ALL_MODELS, "figures"), failed
        )
        result.findings = _guarded(
            study.findings, result, complete, rd.unit(name, ALL_MODELS, "findings"), failed
        )
        results[name] = result
        outputs[name] = _write_outputs(root, result)
    summary: dict[str, Any] = {"failed_units": failed}
    summary.update({name: r.summary() for name, r in results.items()})
    dump_json(root / "summary.json", summary)
    manifest = {
        "valuescope_version": _version("valuescope"),
        "git_commit": git_commit(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": plan.command,
        "run_id": run_id,
        "failed_units": failed,
        "models": {m: _model_info(plan, m) for m in plan.models},
        "studies": {
            name: {
                "title": get_study(name).title,
                "description": get_study(name).description,
                "reference": get_study(name).reference,
                "profile": r.config.profile,
                "config": r.config.model_dump(mode="json"),
                "metrics": dict(get_study(name).metrics),
                "findings": r.findings,
                "headline_figure": get_study(name).headline_figure,
            }
            for name, r in results.items()
        },
        "data_root": plan.data_root or os.environ.get("VALUESCOPE_DATA"),
        "data_files": dict(sorted(data_files.items())),
        "seeds": seeds,
        "libraries": {lib: v for lib in LIBRARIES if (v := _version(lib))},
        "platform": platform_info(),
        "timings": timings,
        "outputs": outputs,
    }
    dump_json(root / "manifest.json", manifest)
    return results


def file_verdicts(files: Mapping[str, str]) -> dict[str, str | None]:
    """Instrument name -> gate verdict from the validity table beside user-trained heads (its
    ``value-labeller`` / ``projective-scorer`` rows: the one instrument it validates there)."""
    from valuescope.instruments.validation import read_validity
    from valuescope.instruments.validity import gate_verdicts

    out: dict[str, str | None] = {}
    for name, path in files.items():
        try:
            verdicts = gate_verdicts(read_validity(Path(path)))
        except (OSError, ValueError) as e:
            out[name] = (
                f"its validity table could not be read ({e}); train the heads with "
                "valuescope instruments train"
            )
            continue
        base = name.split(" (")[0]
        out[name] = verdicts.get(base, f"{path} has no {base} rows")
    return out


def gate_instrument_metrics(
    study: Study[Any], config: Any, artifacts: Artifacts, verdicts: Mapping[str, str | None]
) -> None:
    """Metrics of ``artifacts`` resting on an instrument that is below its validity gate, or that no
    validity table covers, become :func:`~valuescope.stats.metrics.below_gate` entries (in place)."""
    used = study.instruments_used(config, artifacts)
    for spec in study.metric_specs:
        entry = artifacts.metrics.get(spec.name)
        if spec.instrument is None or entry is None or entry.get("estimate") is None:
            continue
        instrument = used.get(spec.instrument, spec.instrument)
        if instrument is None:
            continue
        if instrument not in verdicts:
            known = ", ".join(sorted(verdicts)) or "none"
            reason = f"{instrument} is not validated (validated instruments: {known})"
        elif (failed := verdicts[instrument]) is not None:
            reason = f"{instrument}: {failed}"
        else:
            continue
        artifacts.metrics[spec.name] = below_gate(entry, reason)


def failed_unit(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The ``failed_units`` entry of a unit that did not run: unit id, status, reason (and upstream)."""
    status = "skipped" if meta.get("status") == BLOCKED else "failed"
    entry = {
        "unit": unit_id(meta["study"], meta["model"], meta["step"]),
        "study": meta["study"],
        "model": meta["model"],
        "step": meta["step"],
        "status": status,
        "reason": meta.get("reason") or "no reason recorded",
    }
    if meta.get("error_type"):
        entry["error_type"] = meta["error_type"]
    if meta.get("upstream"):
        entry["upstream"] = meta["upstream"]
    return entry


_T = TypeVar("_T")


def _guarded(
    make: Callable[[Result], dict[str, _T]],
    result: Result,
    complete: list[str],
    folder: Path,
    failed: list[dict[str, Any]],
) -> dict[str, _T]:
    """Figures or findings of ``result``; if they fail on a partial run, again from the models whose
    units all ran; if that fails too, none, recorded in ``failed`` (traceback in ``folder``)."""
    try:
        return make(result)
    except Exception as first:
        error: Exception = first
        partial = [m for m in result.models if m not in complete]
        if partial and complete:
            keep = {m: a for m, a in result.per_model.items() if m in complete}
            try:
                return make(Result(result.study, result.config, keep))
            except Exception as again:
                error = again
    tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / TRACEBACK_FILE, tb.encode("utf-8"))
    meta = {"study": result.study, "model": ALL_MODELS, "step": folder.name, "status": FAILED}
    failed.append(failed_unit({**meta, "error_type": type(error).__name__, "reason": one_line(error)}))
    return {}


def _note_missing_data(study: Study, per_model: dict[str, Artifacts], data: DataSources) -> None:
    """Metrics that need an absent optional data file say so instead of silently missing."""
    for relative, names in study.data_metrics.items():
        if data.find(relative) is not None:
            continue
        note = f"needs {relative} in the data folder, which is absent (data folder: {data.describe()})"
        for artifacts in per_model.values():
            for name in names:
                artifacts.metrics.setdefault(name, missing(note))


def _nonempty(a: Artifacts) -> bool:
    return bool(a.tables or a.tensors or a.generations or a.metrics)


def _timing(meta: dict[str, Any], run_id: str) -> dict[str, Any]:
    status = meta.get("status", "computed")
    if status == "computed" and meta.get("run_id") != run_id:
        status = "reused"
    return {
        "study": meta["study"],
        "model": meta["model"],
        "step": meta["step"],
        "seconds": meta.get("seconds", 0.0),
        "status": status,
    }


def _write_outputs(root: Path, result: Result) -> dict[str, list[dict[str, Any]]]:
    study = get_study(result.study)
    prefix = f"{result.study}__"
    for sub in ("tables", "figures", "tensors", "generations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for old in (root / sub).glob(f"{prefix}*"):
            old.unlink()
    listing: dict[str, list[dict[str, Any]]] = {"tables": [], "figures": [], "generations": [], "tensors": []}
    for model, art in result.per_model.items():
        stem = f"{prefix}{slug(model)}"
        for name, table in art.tables.items():
            rel = f"tables/{stem}__{name}.csv"
            write_bytes_atomic(root / rel, table.to_csv(index=False).encode())
            entry = {"file": rel, "model": model, "name": name}
            listing["tables"].append({**entry, "title": _title(name), "caption": study.tables.get(name, "")})
        for name, rows in art.generations.items():
            rel = f"generations/{stem}__{name}.jsonl"
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            write_bytes_atomic(root / rel, text.encode())
            listing["generations"].append({"file": rel, "model": model, "name": name, "n": len(rows)})
        if art.tensors:
            rel = f"tensors/{stem}.safetensors"
            save_tensors(root / rel, art.tensors, {"study": result.study, "model": model})
            listing["tensors"].append({"file": rel, "model": model, "names": sorted(art.tensors)})
    import matplotlib.pyplot as plt

    for name, fig in result.figures.items():
        svg, png = f"figures/{prefix}{name}.svg", f"figures/{prefix}{name}.png"
        fig.savefig(root / svg, bbox_inches="tight")
        fig.savefig(root / png, dpi=130, bbox_inches="tight")
        plt.close(fig)
        caption = study.figures.get(name, "")
        listing["figures"].append(
            {
                "file": svg,
                "png": png,
                "model": ALL_MODELS,
                "name": name,
                "title": _title(name),
                "caption": caption,
            }
        )
    return listing


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _model_info(plan: RunPlan, model: str) -> dict[str, Any]:
    path = RunDir(plan.out).model_info(model)
    if path.is_file():
        info: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return info
    return {"name": model, "note": "never loaded: no unit of this run needed the model"}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the valuescope checkout in use (with ``-dirty`` if it has changes), if any."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def platform_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "system": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
