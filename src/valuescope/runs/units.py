"""Finished units on disk: one folder per (study, model, step), written to a temp folder and renamed.

A unit folder holds ``unit.json`` (metrics, data, seed, timing, data files read), ``tables/*.csv``,
``tensors.safetensors`` and ``generations/*.jsonl``. The rename is the commit point: a unit folder
either exists complete or not at all, so a run killed at any moment resumes from what is there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.studies.protocol import Artifacts
from valuescope.tensors import load_tensors, save_tensors, write_bytes_atomic

UNIT_FILE = "unit.json"


def slug(key: str) -> str:
    """A file-name-safe form of a model key; keys that needed changing get a short hash suffix."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.") or "model"
    if clean == key:
        return key
    return f"{clean[:60]}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def unit_seed(base: int, *parts: str) -> int:
    """A seed for one unit, stable across runs and machines."""
    text = "|".join([str(base), *parts])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def dump_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically; NaN is refused (the contract has nulls instead)."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False, default=_json_default)
    write_bytes_atomic(path, (text + "\n").encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def write_unit(folder: Path, artifacts: Artifacts, meta: dict[str, Any]) -> None:
    """Record a finished unit at ``folder`` atomically, replacing any earlier one."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        for name, table in artifacts.tables.items():
            (tmp / "tables").mkdir(exist_ok=True)
            # JSON table schema: a text such as "NA" or "1" comes back as that text, dtypes as they were
            (tmp / "tables" / f"{name}.json").write_text(table.to_json(orient="table", index=False), "utf-8")
        if artifacts.tensors:
            save_tensors(tmp / "tensors.safetensors", artifacts.tensors)
        for name, rows in artifacts.generations.items():
            (tmp / "generations").mkdir(exist_ok=True)
            lines = [json.dumps(r, ensure_ascii=False, default=_json_default) for r in rows]
            (tmp / "generations" / f"{name}.jsonl").write_text("".join(x + "\n" for x in lines), "utf-8")
        record = {**meta, "metrics": artifacts.metrics, "data": artifacts.data}
        dump_json(tmp / UNIT_FILE, record)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_unit(folder: Path) -> tuple[Artifacts, dict[str, Any]] | None:
    """The unit recorded at ``folder`` and its metadata, or None if it is not finished."""
    info = folder / UNIT_FILE
    if not info.is_file():
        return None
    record = json.loads(info.read_text("utf-8"))
    tables = {p.stem: pd.read_csv(p) for p in sorted((folder / "tables").glob("*.csv"))}  # older units
    for p in sorted((folder / "tables").glob("*.json")):
        tables[p.stem] = pd.read_json(io.StringIO(p.read_text("utf-8")), orient="table")
    tensors: dict[str, Any] = {}
    if (folder / "tensors.safetensors").is_file():
        tensors, _ = load_tensors(folder / "tensors.safetensors")
    generations = {
        p.stem: [json.loads(line) for line in p.read_text("utf-8").splitlines() if line.strip()]
        for p in sorted((folder / "generations").glob("*.jsonl"))
    }
    artifacts = Artifacts(
        tables=tables,
        tensors=tensors,
        generations=generations,
        metrics=record.pop("metrics", {}),
        data=record.pop("data", {}),
    )
    return artifacts, record
