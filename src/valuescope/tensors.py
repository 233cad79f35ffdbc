"""Tensors on disk: safetensors files with JSON metadata, written atomically. No pickle anywhere."""

from __future__ import annotations

import json
import os
import struct
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save_file as _st_save_file

STALE_TEMP_SECONDS = 3600.0
"""A writer's temp file older than this was left by a killed process (a live write takes seconds)."""


def remove_stale_temps(path: Path, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove the temp files that killed atomic writers of ``path`` left beside it (``.NAME.*.tmp``
    or ``NAME.*.tmp``) once they are ``older_than`` seconds old; a younger one may be another
    process's write in progress (caches are shared). Returns what was removed."""
    removed = []
    now = time.time()
    for pattern in (f".{path.name}.*.tmp", f"{path.name}.*.tmp"):
        for tmp in path.parent.glob(pattern):
            try:
                if now - tmp.stat().st_mtime >= older_than:
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:
                continue  # gone already, or not ours to remove
    return removed


def save_tensors(
    path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``tensors`` to a safetensors file at ``path``, atomically (temp file, fsync, rename).

    Each ``metadata`` value must be JSON-serializable; it is stored as a JSON string in the header
    and comes back from ``load_tensors`` as the same JSON value.
    """
    path = Path(path)
    header: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str):
            raise TypeError(f"metadata key {key!r} is {type(key).__name__}; metadata keys must be strings")
        try:
            header[key] = json.dumps(value, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise TypeError(f"metadata[{key!r}] is not JSON-serializable ({e}); store JSON values") from e
    prepared: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise TypeError(f"tensors must map names to torch tensors; got {name!r}: {type(t).__name__}")
        t = t.detach().cpu().contiguous()
        if t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone()  # a view into a larger storage: safetensors needs each tensor to own its bytes
        prepared[name] = t
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _st_save_file(prepared, str(tmp), metadata=header)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a safetensors file: (tensors, metadata), metadata values decoded from JSON."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; pass the path of a .safetensors file")
    return tensors_from_bytes(path.read_bytes(), str(path))


def tensors_from_bytes(
    data: bytes, source: str = "<bytes>"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Decode the bytes of a safetensors file; ``source`` names it in errors."""
    raw = _header_metadata(data, source)
    try:
        tensors = _st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise ValueError(f"{source} is not a valid safetensors file ({e})") from e
    return tensors, {k: _decode(v) for k, v in raw.items()}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Only the metadata of a safetensors file (reads the header, not the tensors)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; check the path")
    with path.open("rb") as f:
        head = f.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        body = f.read(n) if 0 < n <= _MAX_HEADER else b""
    return {k: _decode(v) for k, v in _header_metadata(head + body, str(path)).items()}


_MAX_HEADER = 100_000_000


def _header_metadata(data: bytes, source: str) -> dict[str, str]:
    bad = f"{source} is not a safetensors file"
    if len(data) < 8:
        raise ValueError(f"{bad} (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise ValueError(f"{bad} (header length {n} does not fit the file)")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{bad} (header is not JSON: {e})") from e
    if not isinstance(header, dict):
        raise ValueError(f"{bad} (header is not a JSON object)")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{bad} (__metadata__ must map strings to strings)")
    return meta


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_bytes_synced(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` and fsync it (not atomic: for files inside a temp folder that is
    renamed into place afterwards; call :func:`fsync_dir` on that folder before the rename)."""
    path = Path(path)
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def fsync_dir(directory: str | Path) -> None:
    """Make the entries of ``directory`` (new files, renames) durable; a no-op where unsupported."""
    _fsync_dir(Path(directory))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value  # written by another tool as a plain string


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
