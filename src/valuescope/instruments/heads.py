"""Linear heads on sentence embeddings: one logistic regression per dimension, trained on human labels,
shipped as small safetensors files with a record of what they were trained on and how they scored.

A head file holds ``weight`` (k, d) and ``bias`` (k) and, in its metadata, the encoder, the dimensions,
and ``record``: the training data (dataset, split, file SHA-256s, rows), the regularisation, and the
validation figures measured when it was trained. ``valuescope instruments train`` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from valuescope.tensors import load_tensors, save_tensors

SHIPPED = "heads"
"""Folder of the package's trained heads, inside ``valuescope.instruments``."""


@dataclass
class LinearHead:
    """Scores = embeddings @ weight.T + bias: one logit per dimension."""

    encoder: str
    dimensions: list[str]
    weight: np.ndarray
    bias: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.dimensions)
        if self.weight.ndim != 2 or self.weight.shape[0] != k or self.bias.shape != (k,):
            raise ValueError(
                f"a head for {k} dimensions needs weight (k, d) and bias (k,); got {self.weight.shape}, "
                f"{self.bias.shape}"
            )

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, k) logits of ``embeddings`` (n, d)."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"embeddings are {embeddings.shape}; this head reads {self.weight.shape[1]}-dimensional "
                f"{self.encoder} embeddings"
            )
        return np.asarray(embeddings @ self.weight.T + self.bias, dtype=np.float64)

    def save(self, path: str | Path) -> Path:
        meta = {
            "encoder": self.encoder,
            "dimensions": json.dumps(self.dimensions),
            "record": json.dumps(self.record),
        }
        tensors = {"weight": torch.from_numpy(self.weight.astype(np.float32)),
                   "bias": torch.from_numpy(self.bias.astype(np.float32))}  # fmt: skip
        return save_tensors(Path(path), tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> LinearHead:
        tensors, meta = load_tensors(Path(path))
        try:
            dimensions = json.loads(meta["dimensions"])
            record = json.loads(meta.get("record", "{}"))
            encoder = str(meta["encoder"])
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a valuescope head file (metadata: {e}); train it again") from e
        return cls(
            encoder, dimensions, tensors["weight"].double().numpy(), tensors["bias"].double().numpy(), record
        )


def shipped_head(name: str) -> LinearHead:
    """A head that ships with the package, e.g. ``touche23-minilm``."""
    ref = resources.files("valuescope.instruments").joinpath(SHIPPED, f"{name}.safetensors")
    with resources.as_file(ref) as path:
        if not path.is_file():
            raise FileNotFoundError(
                f"no shipped head {name!r} ({path}); train one with `valuescope instruments train`"
            )
        return LinearHead.load(path)


def fit_logistic(
    X: np.ndarray, Y: np.ndarray, dimensions: Sequence[str], *, encoder: str, C: float = 0.5,
    record: dict[str, Any] | None = None,
) -> LinearHead:  # fmt: skip
    """One L2 logistic regression per column of the bool ``Y`` (n, k) on ``X`` (n, d). Classes are
    weighted to balance, so logit 0 separates the two labels as if they were equally common."""
    from sklearn.linear_model import LogisticRegression

    Y = np.asarray(Y, dtype=bool)
    if Y.shape != (len(X), len(dimensions)):
        raise ValueError(f"labels are {Y.shape}; expected ({len(X)}, {len(dimensions)})")
    empty = [d for j, d in enumerate(dimensions) if Y[:, j].all() or not Y[:, j].any()]
    if empty:
        raise ValueError(f"dimension(s) {empty} have only one class in the training labels")
    weights, biases = [], []
    for j in range(Y.shape[1]):
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(X, Y[:, j])
        weights.append(model.coef_[0])
        biases.append(model.intercept_[0])
    record = {**(record or {}), "C": C, "class_weight": "balanced"}
    return LinearHead(encoder, list(dimensions), np.array(weights), np.array(biases), record)


def load_heads(folder: Path, prefix: str) -> LinearHead:
    """The one ``<prefix>-<encoder>.safetensors`` head in ``folder`` (``valuescope instruments train``
    output)."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder of heads; write one with valuescope instruments train -o"
        )
    found = sorted(folder.glob(f"{prefix}-*.safetensors"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise ValueError(
            f"{folder} must hold exactly one {prefix}-<encoder>.safetensors head; it holds {names}"
        )
    return LinearHead.load(found[0])
