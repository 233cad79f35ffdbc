"""Finished units on disk: one folder per (study, model, step), written to a temp folder and renamed.

A unit folder holds ``unit.json`` (metrics, data, seed, timing, data files read), ``tables/*.csv``,
``tensors.safetensors`` and ``generations/*.jsonl``. Every file is fsynced before the rename, and the
rename is the commit point: a unit folder either exists complete or not at all, so a run killed at any
moment resumes from what is there. A killed writer leaves only ``.*.tmp`` entries, which
:func:`clean_temp` removes at the start of the next run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.studies.protocol import Artifacts
from valuescope.tensors import fsync_dir, load_tensors, save_tensors, write_bytes_atomic, write_bytes_synced

UNIT_FILE = "unit.json"
TEMP_GLOB = ".*.tmp"
"""Names of the temp files and folders that atomic writers leave only when they are killed."""


class UnitFileError(ValueError):
    """A recorded unit whose files cannot be read; the message names the file and how to recompute it."""


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
    """Record a finished unit at ``folder`` atomically, every file fsynced first; replaces an earlier one."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        for name, table in artifacts.tables.items():
            (tmp / "tables").mkdir(exist_ok=True)
            # JSON table schema: a text such as "NA" or "1" comes back as that text, dtypes as they were
            text = table.to_json(orient="table", index=False)
            write_bytes_synced(tmp / "tables" / f"{name}.json", text.encode("utf-8"))
        if artifacts.tensors:
            save_tensors(tmp / "tensors.safetensors", artifacts.tensors)
        for name, rows in artifacts.generations.items():
            (tmp / "generations").mkdir(exist_ok=True)
            lines = [json.dumps(r, ensure_ascii=False, default=_json_default) for r in rows]
            write_bytes_synced(
                tmp / "generations" / f"{name}.jsonl", "".join(x + "\n" for x in lines).encode()
            )
        record = {**meta, "metrics": artifacts.metrics, "data": artifacts.data}
        dump_json(tmp / UNIT_FILE, record)
        for sub in ("tables", "generations"):
            if (tmp / sub).is_dir():
                fsync_dir(tmp / sub)
        fsync_dir(tmp)
        old = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.old.tmp"
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        fsync_dir(folder.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_temp(root: Path) -> list[Path]:
    """Remove the ``.*.tmp`` files and folders under ``root`` that killed writers left (call it only
    while holding the run folder's lock); returns what was removed."""
    removed = []
    for path in sorted(root.rglob(TEMP_GLOB), key=lambda p: len(p.parts)):
        if not path.exists() and not path.is_symlink():
            continue  # inside a temp folder removed just before
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def read_unit_meta(folder: Path) -> dict[str, Any] | None:
    """Only the ``unit.json`` record of the unit at ``folder`` (None if it is not finished)."""
    info = folder / UNIT_FILE
    if not info.is_file():
        return None
    return _read_record(info, folder)


def _read_record(info: Path, folder: Path) -> dict[str, Any]:
    try:
        record = json.loads(info.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnitFileError(_damaged(info, folder, f"not valid JSON: {e}")) from None
    if not isinstance(record, dict):
        raise UnitFileError(_damaged(info, folder, f"a JSON {type(record).__name__}, not an object"))
    return record


def _damaged(path: Path, folder: Path, problem: str) -> str:
    return (
        f"recorded unit file {path} is damaged ({problem}); delete the folder {folder} "
        "and run again to recompute that unit"
    )


def read_unit(folder: Path) -> tuple[Artifacts, dict[str, Any]] | None:
    """The unit recorded at ``folder`` and its metadata, or None if it is not finished.

    A damaged file raises :class:`UnitFileError` naming it."""
    info = folder / UNIT_FILE
    if not info.is_file():
        return None
    record = _read_record(info, folder)
    current = info
    try:
        tables: dict[str, pd.DataFrame] = {}
        for p in sorted((folder / "tables").glob("*.csv")):  # older units
            current = p
            tables[p.stem] = pd.read_csv(p)
        for p in sorted((folder / "tables").glob("*.json")):
            current = p
            tables[p.stem] = pd.read_json(io.StringIO(p.read_text("utf-8")), orient="table")
        tensors: dict[str, Any] = {}
        if (folder / "tensors.safetensors").is_file():
            current = folder / "tensors.safetensors"
            tensors, _ = load_tensors(current)
        generations = {}
        for p in sorted((folder / "generations").glob("*.jsonl")):
            current = p
            generations[p.stem] = [
                json.loads(line) for line in p.read_text("utf-8").splitlines() if line.strip()
            ]
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise UnitFileError(_damaged(current, folder, f"{type(e).__name__}: {e}")) from None
    artifacts = Artifacts(
        tables=tables,
        tensors=tensors,
        generations=generations,
        metrics=record.pop("metrics", {}),
        data=record.pop("data", {}),
    )
    return artifacts, record
