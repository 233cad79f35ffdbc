"""Categorical indifference diagnostic (Li, Teng & Wang 2026): do virtue and vice of a foundation point
apart? ``virtue_vice_cosine``: the cosine of the two prototypes, each a mean minus the neutral items'
mean (raw residual means share a large common component that would make every cosine near +1;
``raw=True`` shows it). Low (negative) is structure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from valuescope.data.moral_items import FOUNDATIONS, POLES
from valuescope.studies.indifference.diagnostic_settings import check_count
from valuescope.studies.indifference.item_labels import NEUTRAL, ItemLabels, require_neutral, select_rows

_N_CELLS = len(FOUNDATIONS) * len(POLES)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.clip(a @ b / scale, -1.0, 1.0)) if scale > 0 else float("nan")


def _cell_means(x: np.ndarray, labels: ItemLabels) -> tuple[np.ndarray, np.ndarray]:
    """((10, d) mean of each (foundation, pole) cell, NaN-free with zeros where empty; (10,) counts)."""
    moral = labels.moral
    onehot = np.zeros((int(moral.sum()), _N_CELLS))
    onehot[np.arange(len(onehot)), labels.cell[moral]] = 1.0
    counts = onehot.sum(axis=0)
    sums = onehot.T @ x[moral]
    return sums / np.maximum(counts, 1.0)[:, None], counts


def neutral_mean(x: np.ndarray, labels: ItemLabels) -> np.ndarray | None:
    """Mean of the neutral rows of ``x``, or None without neutral rows."""
    neutral = labels.kind == NEUTRAL
    return x[neutral].mean(axis=0) if neutral.any() else None


def prototype_matrix(
    x: np.ndarray, labels: ItemLabels, *, raw: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """((10, d) cell means minus the neutral mean (zero rows where empty, NaN if no neutral), counts)."""
    means, counts = _cell_means(x, labels)
    if raw:
        return means, counts
    centre = neutral_mean(x, labels)
    if centre is None:
        return np.full_like(means, np.nan), counts
    return np.where(counts[:, None] > 0, means - centre, 0.0), counts


def prototypes(
    X: np.ndarray, items: pd.DataFrame, rows: np.ndarray | None = None, *, raw: bool = False
) -> dict[tuple[str, str], np.ndarray]:
    """Per (foundation, pole) with at least one item in ``rows``: the mean of its items' rows of ``X`` minus
    the mean of the neutral items (``raw=True``: no subtraction). ValueError if centring without neutrals."""
    x, labels, _ = select_rows(X, items, rows)
    if not raw:
        require_neutral(labels)
    protos, counts = prototype_matrix(x, labels, raw=raw)
    return {
        (f, p): protos[i * len(POLES) + j]
        for i, f in enumerate(FOUNDATIONS)
        for j, p in enumerate(POLES)
        if counts[i * len(POLES) + j] > 0
    }


def virtue_vice_frame(x: np.ndarray, labels: ItemLabels, *, raw: bool) -> pd.DataFrame:
    """``virtue_vice_cosine`` of rows already read: one row per foundation with an item."""
    protos, counts = prototype_matrix(x, labels, raw=raw)
    records = []
    for i, f in enumerate(FOUNDATIONS):
        v, c = i * len(POLES) + POLES.index("virtue"), i * len(POLES) + POLES.index("vice")
        if counts[v] == 0 and counts[c] == 0:
            continue
        cos = _cosine(protos[v], protos[c]) if counts[v] and counts[c] else float("nan")
        records.append({"foundation": f, "cosine": cos, "n_virtue": int(counts[v]), "n_vice": int(counts[c])})
    return pd.DataFrame(records, columns=["foundation", "cosine", "n_virtue", "n_vice"])


def mean_foundation_cosine(frame: pd.DataFrame, min_items: int) -> float:
    """Mean finite cosine of a ``virtue_vice_frame`` over foundations with >= ``min_items`` per pole."""
    ok = (frame["n_virtue"] >= min_items) & (frame["n_vice"] >= min_items)
    values = frame.loc[ok, "cosine"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def virtue_vice_cosine(
    X: np.ndarray, items: pd.DataFrame, rows: np.ndarray | None = None, *, raw: bool = False
) -> pd.DataFrame:
    """Per foundation present in ``rows``: the cosine of its virtue and vice prototypes (``prototypes``).

    Columns foundation, cosine (NaN where a pole has no item), n_virtue, n_vice. With pure noise the
    centred cosine is not 0 but about (1/n_neutral) / sqrt((1/n_virtue + 1/n_neutral)(1/n_vice +
    1/n_neutral)), since both prototypes subtract the same noisy neutral mean; compare with
    ``shuffled_null``.
    """
    x, labels, _ = select_rows(X, items, rows)
    if not raw:
        require_neutral(labels)
    return virtue_vice_frame(x, labels, raw=raw)


def mean_virtue_vice_cosine(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    min_items: int = 3,
    raw: bool = False,
) -> float:
    """Mean ``virtue_vice_cosine`` over foundations whose poles both have >= ``min_items`` items, else NaN."""
    check_count(min_items, "min_items", 1)
    return mean_foundation_cosine(virtue_vice_cosine(X, items, rows, raw=raw), min_items)
