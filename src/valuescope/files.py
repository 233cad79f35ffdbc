"""Files on disk: content hashes that manifests and caches key on; JSON objects read with errors that
say which file and how to fix it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``. A missing file, bad JSON or another JSON value raises an error that
    names the file and ends with ``fix`` (what the user should do)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); {fix}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(data).__name__}; {fix}")
    return data
