"""The items table of the moral indifference diagnostics, read into label arrays. ``items`` is a DataFrame
with one row per item, aligned with the rows of ``X``: ``lemma`` (the sampling unit: inflections of one
word share it; folds and resamples move whole lemmas), ``kind`` (virtue, vice or neutral), ``foundation``
(one of ``FOUNDATIONS``, anything for neutral items), ``typicality`` (in [0, 1]) and the ten
``VECTOR_COLUMNS``. ``read_labels`` validates it, ``select_labels`` and ``select_rows`` take the rows a
boolean mask selects, ``lemma_folds`` deals whole lemmas into folds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from valuescope.data.moral_items import FOUNDATIONS, KINDS, POLES, VECTOR_COLUMNS
from valuescope.stats import grouped_folds

REQUIRED_COLUMNS: tuple[str, ...] = ("lemma", "kind", "foundation", "typicality", *VECTOR_COLUMNS)
NEUTRAL = KINDS.index("neutral")
"""Kind code of the neutral items."""


@dataclass(frozen=True)
class ItemLabels:
    """Per-row labels as arrays: kind code (index in KINDS), cell (foundation * 2 + pole, -1 for neutral)."""

    kind: np.ndarray
    cell: np.ndarray
    typicality: np.ndarray
    targets: np.ndarray

    def take(self, idx: np.ndarray) -> ItemLabels:
        return ItemLabels(self.kind[idx], self.cell[idx], self.typicality[idx], self.targets[idx])

    @property
    def moral(self) -> np.ndarray:
        return self.kind != NEUTRAL


def read_labels(items: pd.DataFrame, n_rows: int) -> tuple[ItemLabels, np.ndarray]:
    """(labels, lemma codes) from ``items``; ValueError naming what is missing or malformed."""
    if not isinstance(items, pd.DataFrame):
        raise ValueError(f"items must be a pandas DataFrame, got {type(items).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in items.columns]
    if missing:
        raise ValueError(
            f"items lacks columns {missing}; it needs {list(REQUIRED_COLUMNS)} (one row per item, aligned "
            "with the rows of X)"
        )
    if len(items) != n_rows:
        raise ValueError(f"items has {len(items)} rows but X has {n_rows}; give one item row per row of X")
    lemma, _ = pd.factorize(items["lemma"])
    if (lemma < 0).any():
        raise ValueError(f"column 'lemma' has {int((lemma < 0).sum())} missing values; every item needs one")
    kind_str = items["kind"].astype(str).to_numpy()
    unknown = sorted(set(kind_str.tolist()) - set(KINDS))
    if unknown:
        raise ValueError(f"column 'kind' must hold only {list(KINDS)}, found {unknown}")
    kind = np.array([KINDS.index(k) for k in kind_str], dtype=np.intp) if n_rows else np.zeros(0, np.intp)
    moral = kind != NEUTRAL
    foundation = items["foundation"].fillna("").astype(str).to_numpy()
    bad = sorted(set(foundation[moral].tolist()) - set(FOUNDATIONS))
    if bad:
        raise ValueError(f"virtue and vice items need a foundation in {list(FOUNDATIONS)}, found {bad}")
    cell = np.full(n_rows, -1, dtype=np.intp)
    f_index = {f: i for i, f in enumerate(FOUNDATIONS)}
    cell[moral] = [
        f_index[f] * len(POLES) + POLES.index(KINDS[k])
        for f, k in zip(foundation[moral], kind[moral], strict=True)
    ]
    typicality = pd.to_numeric(items["typicality"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(typicality[moral]).all():
        raise ValueError("column 'typicality' must be a finite number for every virtue and vice item")
    typicality = np.where(moral, typicality, 0.0)
    targets = items[list(VECTOR_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(targets).all():
        raise ValueError(f"the vector columns {list(VECTOR_COLUMNS)} must be finite numbers (0 where absent)")
    return ItemLabels(kind, cell, typicality, targets), lemma.astype(np.intp)


def as_matrix(X: np.ndarray, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D float array; ValueError naming ``name`` if it is not 2-D or not finite."""
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (items, features), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} has {int((~np.isfinite(arr)).sum())} NaN or infinite entries; drop them first"
        )
    return arr


def row_index(rows: np.ndarray | None, n_rows: int, name: str = "rows") -> np.ndarray:
    """Indices of the True entries of a boolean row mask (``None``: every row)."""
    if rows is None:
        idx = np.arange(n_rows)
    else:
        mask = np.asarray(rows)
        if mask.dtype != bool or mask.shape != (n_rows,):
            raise ValueError(
                f"{name} must be a boolean mask with one entry per item ({n_rows}), got dtype {mask.dtype} "
                f"and shape {mask.shape}"
            )
        idx = np.flatnonzero(mask)
    if len(idx) == 0:
        raise ValueError(f"{name} selects no items")
    return idx


def select_labels(
    items: pd.DataFrame, rows: np.ndarray | None, n_rows: int
) -> tuple[ItemLabels, np.ndarray, np.ndarray]:
    """(labels, lemma codes, row indices) of the rows ``rows`` selects among ``n_rows``."""
    labels, lemma = read_labels(items, n_rows)
    idx = row_index(rows, n_rows)
    return labels.take(idx), lemma[idx], idx


def select_rows(
    X: np.ndarray, items: pd.DataFrame, rows: np.ndarray | None
) -> tuple[np.ndarray, ItemLabels, np.ndarray]:
    """(x, labels, lemma codes) of the selected rows."""
    x = as_matrix(X)
    labels, lemma, idx = select_labels(items, rows, len(x))
    return x[idx], labels, lemma


def require_neutral(labels: ItemLabels, what: str = "rows") -> None:
    """ValueError unless ``labels`` hold a neutral item (prototypes are centred on their mean)."""
    if not (labels.kind == NEUTRAL).any():
        raise ValueError(
            f"{what} hold no neutral items; prototypes are centred on the neutral items' mean, so include "
            "neutral items (or use raw=True where offered)"
        )


def lemma_folds(lemma: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Grouped folds as index arrays, or None with fewer lemmas than folds."""
    if len(np.unique(lemma)) < k:
        return None
    return [(np.flatnonzero(tr), np.flatnonzero(te)) for tr, te in grouped_folds(lemma, k, seed=seed)]
