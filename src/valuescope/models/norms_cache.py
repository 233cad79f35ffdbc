"""The on-disk cache of a model's reference statistics: per read point, the mean residual norm and the
mean residual vector on the reference text (what damage and steering are scaled by).

One safetensors file per (weights, dtype), written atomically (temp file, fsync, rename) with a
SHA-256 of its tensors in the header. A file that is missing, unreadable, of the wrong shape or whose
checksum does not match is treated as absent, so the caller measures again and overwrites it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from valuescope.models.gguf_cache import cache_root
from valuescope.tensors import load_tensors, save_tensors

FORMAT = 2
"""Bumped when the file's layout changes (older files are then measured again)."""


def norms_path(weights_hash: str, dtype: str, root: Path | None = None) -> Path:
    """Where the reference statistics of a model with these weights and dtype are cached."""
    folder = (root if root is not None else cache_root()) / "norms"
    return folder / f"{weights_hash[:24]}-{dtype}.reference.safetensors"


def checksum(norms: torch.Tensor, means: torch.Tensor) -> str:
    """SHA-256 of the two tensors' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for t in (norms, means):
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_reference(path: Path, n_points: int, d_model: int) -> tuple[list[float], torch.Tensor] | None:
    """(norm per read point, means (n_points, d_model)) from ``path``, or None if absent or damaged."""
    if not path.is_file():
        return None
    try:
        tensors, meta = load_tensors(path)
    except (OSError, ValueError):
        return None
    norms, means = tensors.get("norms"), tensors.get("means")
    if norms is None or means is None or meta.get("format") != FORMAT:
        return None
    if tuple(norms.shape) != (n_points,) or tuple(means.shape) != (n_points, d_model):
        return None
    if meta.get("sha256") != checksum(norms, means):
        return None
    return [float(x) for x in norms.tolist()], means


def save_reference(path: Path, norms: list[float], means: torch.Tensor) -> None:
    """Write the statistics atomically, with their checksum."""
    norm_tensor = torch.tensor(norms, dtype=torch.float64)
    means = means.detach().cpu().contiguous()
    meta = {"format": FORMAT, "sha256": checksum(norm_tensor, means)}
    save_tensors(path, {"norms": norm_tensor, "means": means}, meta)
