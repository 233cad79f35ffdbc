"""Units of a plan: run a model's unfinished units, read finished ones back, and the cross-model unit.

Shared by the local executor, the Ray executor and sweeps; every result goes through the unit
folders on disk (see :mod:`valuescope.runs.units`), so a resumed run equals an uninterrupted one.

A unit that raises is recorded as ``failed`` (exception type, one-line message, ``traceback.txt`` in
its folder); a later step that reads a failed step's artifacts is recorded as ``blocked`` with that
step named; every other unit still runs. A rerun recomputes failed and blocked units only.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from valuescope.data.sources import DataSources
from valuescope.runs.config import RunPlan
from valuescope.runs.units import dump_json, read_unit, read_unit_meta, slug, unit_seed, write_unit
from valuescope.stats.metrics import ALL_MODELS
from valuescope.studies.protocol import Artifacts, Step, StudyConfig, UnitContext
from valuescope.studies.registry import get_study
from valuescope.tensors import write_bytes_atomic

FAILED = "failed"
"""Status of a unit whose step raised."""
BLOCKED = "blocked"
"""Status of a unit that needed the artifacts of a failed or blocked unit."""
TRACEBACK_FILE = "traceback.txt"


class UpstreamMissing(KeyError):
    """A step asked for the artifacts of an earlier step that failed or was blocked."""

    def __init__(self, unit: str, reason: str) -> None:
        super().__init__(unit)
        self.unit = unit
        self.reason = reason

    def __str__(self) -> str:
        return f"needs {self.unit}, which did not run ({self.reason})"


class _Previous(Mapping[str, Artifacts]):
    """Earlier steps' artifacts; reading one that failed raises :class:`UpstreamMissing` (``in`` is False)."""

    def __init__(self, done: Mapping[str, Artifacts], missing: Mapping[str, tuple[str, str]]) -> None:
        self._done = dict(done)
        self._missing = dict(missing)

    def __getitem__(self, step: str) -> Artifacts:
        if step in self._missing:
            raise UpstreamMissing(*self._missing[step])
        return self._done[step]

    def __iter__(self) -> Iterator[str]:
        return iter(self._done)

    def __len__(self) -> int:
        return len(self._done)


def _previous(
    study: str,
    done: Mapping[str, Mapping[str, Artifacts]],
    missing: Mapping[str, Mapping[str, tuple[str, str]]],
) -> _Previous:
    """What a step of ``study`` may read: its own study's earlier steps by name, and every step of the
    studies it ``reads`` (run before it in the same call) as ``study/step``."""
    own_done, own_missing = dict(done[study]), dict(missing[study])
    for other in get_study(study).reads:
        own_done |= {f"{other}/{k}": v for k, v in done.get(other, {}).items()}
        own_missing |= {f"{other}/{k}": v for k, v in missing.get(other, {}).items()}
    return _Previous(own_done, own_missing)


def _older_than_reads(meta: Mapping[str, Any], study: str, latest: Mapping[str, str]) -> bool:
    """Whether a recorded unit of ``study`` finished before a unit of a study it reads (recomputed since,
    after a resume removed it or a forced rerun): then it read results that are gone, and runs again."""
    newest = max((latest.get(r, "") for r in get_study(study).reads), default="")
    return bool(newest) and str(meta.get("finished", "")) < newest


def is_done(meta: Mapping[str, Any]) -> bool:
    """Whether a recorded unit is final (computed or skipped by design), not one to recompute."""
    return meta.get("status") not in (FAILED, BLOCKED)


def unit_id(study: str, model: str, step: str) -> str:
    return f"{study}/{model}/{step}"


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
        from valuescope.runs.backends.openai.model import ApiModel
        from valuescope.runs.backends.openai.spec import ApiSpec

        return ApiModel(ApiSpec(name=model, **plan.api_models[model]))
    from valuescope.language_model import load_model

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


class HeldModel:
    """The model a process is running units of, opened on first use and kept until another model is
    asked for or :meth:`release` (at most one is held). A model that failed to open is not retried
    for the same name: every unit that needs it gets the first error."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.name: str | None = None
        self._lm: Any = None
        self._error: str | None = None

    def get(self, model: str) -> Any:
        if model != self.name:
            self.release()
            self.name = model
        if self._error is not None:
            raise RuntimeError(f"{model} could not be loaded: {self._error}")
        if self._lm is None:
            try:
                self._lm = open_model(model, self.plan)
            except Exception as e:
                self._error = one_line(e)
                raise
            dump_json(RunDir(self.plan.out).model_info(model), self._lm.describe())
        return self._lm

    def release(self) -> None:
        if self.name is None:
            return
        self.name, self._lm, self._error = None, None, None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def run_model_units(
    plan: RunPlan,
    model: str,
    studies: list[str],
    run_id: str,
    quiet: bool,
    position: int = 0,
    held: HeldModel | None = None,
) -> None:
    """Run every unfinished unit of ``model`` in ``studies``; the model loads only if a unit needs it.

    Never raises for a unit's error: it is recorded in the unit's folder and the other units go on.
    ``held``: keep the model open after the call in this holder (a worker running several studies of
    one model); by default it is released at the end.
    """
    rd = RunDir(plan.out)
    holder = held if held is not None else HeldModel(plan)

    load = partial(holder.get, model)
    is_api = model in plan.api_models
    todo = [(s, step) for s in studies for step in _steps(s, plan.configs[s])]
    bar = tqdm(todo, desc=model, unit="step", disable=quiet, position=position, leave=True)
    try:
        with quiet_loading() if quiet else nullcontext():
            _run_steps(plan, model, studies, run_id, quiet, rd, bar, load, is_api)
    finally:
        bar.close()
        if held is None:
            holder.release()


def _run_steps(
    plan: RunPlan,
    model: str,
    studies: list[str],
    run_id: str,
    quiet: bool,
    rd: RunDir,
    bar: tqdm[tuple[str, Step]],
    load: Callable[[], Any],
    is_api: bool,
) -> None:
    """Every unfinished unit of ``model`` in ``studies``, in order, each given what the earlier ones made."""
    done: dict[str, dict[str, Artifacts]] = {s: {} for s in studies}
    missing: dict[str, dict[str, tuple[str, str]]] = {s: {} for s in studies}
    latest: dict[str, str] = {}  # per study, when its newest unit of this model finished
    for study_name, step in bar:
        bar.set_postfix_str(f"{study_name}/{step.name}")
        folder = rd.unit(study_name, model, step.name)
        got = read_unit(folder)
        if got is None or not is_done(got[1]) or _older_than_reads(got[1], study_name, latest):
            previous = _previous(study_name, done, missing)
            _run_unit(plan, study_name, step, model, run_id, quiet, previous, load, is_api)
            got = read_unit(folder)
            assert got is not None
        artifacts, meta = got
        latest[study_name] = max(latest.get(study_name, ""), str(meta.get("finished", "")))
        status = meta.get("status")
        if status in (FAILED, BLOCKED):
            missing[study_name][step.name] = (
                unit_id(study_name, model, step.name),
                meta.get("reason", ""),
            )
        elif status != "skipped":
            done[study_name][step.name] = artifacts


def _run_unit(
    plan: RunPlan,
    study_name: str,
    step: Step,
    model: str,
    run_id: str,
    quiet: bool,
    previous: Mapping[str, Artifacts],
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
        previous,
        not quiet,
        load,
        open_other=lambda name: open_model(name, plan),
    )
    where = unit_id(study_name, model, step.name)
    started = time.perf_counter()
    try:
        with _seeded(seed):
            artifacts = step.run(ctx)
        if not isinstance(artifacts, Artifacts):
            raise TypeError(f"{where} returned {type(artifacts).__name__}, not Artifacts")
        artifacts.validate(where)
    except Exception as e:
        record_failure(folder, meta, e, run_id, seconds=time.perf_counter() - started)
        return
    meta.update(
        status="computed",
        seconds=round(time.perf_counter() - started, 3),
        finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        run_id=run_id,
        data_files=data.read,
        torch_threads=torch.get_num_threads(),
    )
    write_unit(folder, artifacts, meta)


def one_line(error: BaseException) -> str:
    """The error's message on one line, at most 500 characters."""
    text = " ".join(str(error).split()) or "(no message)"
    return text if len(text) <= 500 else text[:497] + "..."


def _upstream(error: BaseException) -> UpstreamMissing | None:
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, UpstreamMissing):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def record_failure(
    folder: Path, meta: dict[str, Any], error: BaseException, run_id: str, seconds: float = 0.0
) -> None:
    """Record the unit at ``folder`` as failed (or blocked, when it needed a unit that did not run),
    with the full traceback in ``traceback.txt``; a rerun recomputes it."""
    upstream = _upstream(error)
    tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if upstream is not None:
        fields = {"status": BLOCKED, "upstream": upstream.unit, "reason": f"skipped: {upstream}"}
    else:
        fields = {"status": FAILED, "error_type": type(error).__name__, "reason": one_line(error)}
    meta = {
        **meta,
        **fields,
        "seconds": round(seconds, 3),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    write_unit(folder, Artifacts(), meta)
    write_bytes_atomic(folder / TRACEBACK_FILE, tb.encode("utf-8"))


def record_unfinished(
    plan: RunPlan, model: str, studies: list[str], run_id: str, error: BaseException
) -> int:
    """Record every unit of ``model`` in ``studies`` that did not finish in this run as failed with
    ``error`` (its worker died); returns how many."""
    rd = RunDir(plan.out)
    n = 0
    for study in studies:
        for step in _steps(study, plan.configs[study]):
            folder = rd.unit(study, model, step.name)
            meta = read_unit_meta(folder)
            if meta is not None and (is_done(meta) or meta.get("run_id") == run_id):
                continue
            base = {"study": study, "model": model, "step": step.name, "seed": None}
            record_failure(folder, base, error, run_id)
            n += 1
    return n


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' "Loading weights" bars off inside, as they were outside."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for one unit and ask for its deterministic algorithms (warning, not failing, where an
    op has none), restoring both afterwards."""
    state = torch.random.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.random.set_rng_state(state)


def model_artifacts(plan: RunPlan, study_name: str, model: str) -> tuple[Artifacts, list[dict[str, Any]]]:
    """The finished steps of one model in one study, merged, with every step's unit metadata.

    Steps that failed, were blocked or never finished contribute no artifacts; their metadata says
    why (a step with no record at all gets status ``failed``, reason "did not finish").
    """
    rd = RunDir(plan.out)
    parts, metas = [], []
    for step in _steps(study_name, plan.configs[study_name]):
        got = read_unit(rd.unit(study_name, model, step.name))
        if got is None:
            metas.append(
                {
                    "study": study_name,
                    "model": model,
                    "step": step.name,
                    "status": FAILED,
                    "reason": "did not finish (its process stopped before recording it); run again to resume",
                }
            )
            continue
        if is_done(got[1]):
            parts.append(got[0])
        metas.append(got[1])
    return _merge(parts, f"{study_name}/{model}"), metas


def compare_step(
    plan: RunPlan, study_name: str, run_id: str, not_run: list[str] | None = None
) -> tuple[Artifacts, dict[str, Any]]:
    """The cross-model unit of a study (recorded once per set of models).

    ``not_run`` lists the per-model units of the study that did not run: the compare unit is then
    blocked (and not recorded, so a rerun computes it). A compare that raises is recorded as failed.
    """
    models_key = hashlib.sha256(json.dumps(plan.models).encode()).hexdigest()[:10]
    folder = RunDir(plan.out).unit(study_name, ALL_MODELS, f"compare-{models_key}")
    got = read_unit(folder)
    if got is not None and is_done(got[1]):
        return got
    config = plan.configs[study_name]
    seed = unit_seed(config.seed, study_name, ALL_MODELS)
    meta: dict[str, Any] = {"study": study_name, "model": ALL_MODELS, "step": "compare", "seed": seed}
    if not_run:
        shown = ", ".join(not_run[:3]) + (f" and {len(not_run) - 3} more" if len(not_run) > 3 else "")
        meta.update(status=BLOCKED, upstream=not_run[0], reason=f"skipped: needs {shown}, which did not run")
        meta.update(seconds=0.0, run_id=run_id)
        return Artifacts(), meta
    started = time.perf_counter()
    try:
        per_model = {m: model_artifacts(plan, study_name, m)[0] for m in plan.models}
        artifacts = get_study(study_name).compare(per_model, config, seed)
        artifacts.validate(unit_id(study_name, ALL_MODELS, "compare"))
    except Exception as e:
        record_failure(folder, meta, e, run_id, seconds=time.perf_counter() - started)
    else:
        meta.update(status="computed", seconds=round(time.perf_counter() - started, 3), run_id=run_id)
        write_unit(folder, artifacts, meta)
    got = read_unit(folder)
    assert got is not None
    if not is_done(got[1]):
        return Artifacts(), got[1]
    return got
