"""The instruments' validity, recorded in a run for its report: how far to trust each text-to-value score.

With a data folder, ``valuescope.instruments.validation.validate_all`` runs once per (shipped heads, judge
model, data files, settings, version) and is cached (the judge is the indifference study's default; one
that cannot be loaded is left out of the table); the run gets ``tables/instrument_validity.csv`` and
``instruments.json`` (``status``: ``validated``, ``no data`` or ``failed``, with the reason). A failure
here never stops a run: the report says the instruments were not validated, and why.

Either way the run gets each instrument's gate verdict (``below_gate`` in ``instruments.json``): from
this run's table, or, without one, from the shipped heads' table measured when they were trained. The
summary and findings show a metric resting on an instrument below its gate as below it.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.data.sources import DataSources
from valuescope.data.touche import TOUCHE_DIR
from valuescope.data.valuebench import VALUEBENCH_FILE
from valuescope.data.valueportrait import VALUEPORTRAIT_RESPONSES
from valuescope.files import sha256_file
from valuescope.instruments.validity import RUN_STATUS, RUN_TABLE
from valuescope.models.gguf_cache import cache_root
from valuescope.runs.config import RunPlan
from valuescope.tensors import write_bytes_atomic
from valuescope.version import __version__

N_BOOT = 1000
INPUTS = (
    f"{TOUCHE_DIR}/arguments-validation.tsv",
    f"{TOUCHE_DIR}/labels-validation.tsv",
    f"{TOUCHE_DIR}/value-categories.json",
    VALUEBENCH_FILE,
    VALUEPORTRAIT_RESPONSES,
)


def default_judge() -> str:
    """The judge validated with the instruments: the indifference study's default ``judge_model``."""
    from valuescope.studies.indifference.config import IndifferenceConfig

    return str(IndifferenceConfig.model_fields["judge_model"].default)


def open_judge(name: str, api_models: dict[str, dict[str, Any]] | None = None) -> Any:
    """The judge ``name``: an ``api_models`` entry (a served model), else a model as ``--model`` names it."""
    from valuescope.runs.unit_runner import open_model

    return open_model(name, RunPlan(Path("."), [name], {}, api_models=dict(api_models or {})))


def _key(root: Path, n_boot: int, seed: int, judge: str) -> str:
    digest = hashlib.sha256(f"{__version__}|{n_boot}|{seed}|{judge}".encode())
    heads = resources.files("valuescope.instruments").joinpath("heads")
    for head in sorted(heads.iterdir(), key=lambda h: h.name):
        digest.update(head.name.encode() + head.read_bytes())
    for name in INPUTS:
        path = root / name
        digest.update(name.encode() + (sha256_file(path) if path.is_file() else "absent").encode())
    return digest.hexdigest()[:32]


def cached_validity(
    root: Path, *, n_boot: int = N_BOOT, seed: int = 0, judge: str | None = None
) -> pd.DataFrame:
    """``validate_all`` on ``root`` with the local ``judge`` model (default :func:`default_judge`), from the
    cache when the heads, files, judge and settings are unchanged."""
    from valuescope.instruments.validation import read_validity, validate_all

    judge = judge or default_judge()
    path = cache_root() / "instrument-validity" / f"{_key(root, n_boot, seed, judge)}.csv"
    if path.is_file():
        return read_validity(path)
    try:
        model = open_judge(judge)
    except Exception:  # a judge that cannot be loaded leaves the judge out, not the instruments
        return validate_all(root, n_boot=n_boot, seed=seed)  # not cached: the judge is missing
    table = validate_all(root, judge=model, n_boot=n_boot, seed=seed)
    write_bytes_atomic(path, table.to_csv(index=False).encode())
    return table


def record_instrument_validity(plan: RunPlan) -> dict[str, str | None]:
    """Write the validity table and status into ``plan.out``; returns each instrument's gate verdict
    (None: it passes; else what failed, and where the figures come from when not from this run)."""
    from valuescope.instruments.validation import shipped_validity
    from valuescope.instruments.validity import gate_verdicts

    root = DataSources(plan.data_root).root
    table: pd.DataFrame | None = None
    if root is None:
        status: dict[str, Any] = {"status": "no data", "reason": "no data folder (--data or VALUESCOPE_DATA)"}
    else:
        try:
            table = cached_validity(root)
            status = {"status": "validated", "data": str(root)}
        except Exception as e:  # a missing or broken file, or anything else: say so, keep the run
            status = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
    if table is not None:
        write_bytes_atomic(plan.out / RUN_TABLE, table.to_csv(index=False).encode())
        verdicts = gate_verdicts(table)
    else:
        source = (
            f"as measured when the shipped heads were trained; not validated in this run: {status['reason']}"
        )
        try:
            verdicts = {k: v and f"{v} ({source})" for k, v in gate_verdicts(shipped_validity()).items()}
        except Exception as e:  # no verdict at all: every instrument then reads as not validated
            status["reason"] += (
                f"; the shipped validity table could not be read either ({type(e).__name__}: {e})"
            )
            verdicts = {}
    status["below_gate"] = verdicts
    write_bytes_atomic(plan.out / RUN_STATUS, json.dumps(status, indent=1).encode())
    return verdicts
