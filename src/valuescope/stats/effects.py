"""Effect sizes: Cohen's d and the AUROC (with ties counted half)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def cohens_d(x: np.ndarray, y: np.ndarray) -> float:
    """(mean x - mean y) / pooled SD (ddof=1); NaN if undefined (fewer than 2 values or zero spread)."""
    xa = np.asarray(x, dtype=float).reshape(-1)
    ya = np.asarray(y, dtype=float).reshape(-1)
    nx, ny = len(xa), len(ya)
    if nx < 1 or ny < 1 or nx + ny < 3:
        return float("nan")
    ssx = float(((xa - xa.mean()) ** 2).sum())
    ssy = float(((ya - ya.mean()) ** 2).sum())
    pooled = np.sqrt((ssx + ssy) / (nx + ny - 2))
    if not pooled > 0:
        return float("nan")
    return float((xa.mean() - ya.mean()) / pooled)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg)), ties counting 0.5.

    ``labels`` are bool or 0/1, positives being True/1. NaN if a class is empty or a score is NaN.
    """
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    if s.ndim != 1 or lab.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {s.shape} and {lab.shape}")
    if len(s) != len(lab):
        raise ValueError(f"scores has {len(s)} entries but labels has {len(lab)}")
    if lab.dtype != bool:
        if not np.isin(lab, [0, 1]).all():
            raise ValueError("labels must be bool or 0/1")
        lab = lab.astype(bool)
    return float(auroc_columns(s[:, None], lab[:, None])[0])


def auroc_columns(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """:func:`auroc` of every column of ``scores`` (n, k) against the same column of the bool ``labels``
    (n, k), in one ranking: the same numbers as the loop, NaN where a column's class is empty or a
    score is NaN."""
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(labels, dtype=bool)
    if s.ndim != 2 or s.shape != lab.shape:
        raise ValueError(f"scores and labels must be 2-D of one shape, got {s.shape} and {lab.shape}")
    n_pos = lab.sum(0).astype(float)
    n_neg = len(lab) - n_pos
    ranks = rankdata(s, axis=0)
    u = (ranks * lab).sum(0) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = u / (n_pos * n_neg)
    bad = (n_pos == 0) | (n_neg == 0) | np.isnan(s).any(0)
    return np.where(bad, np.nan, out)
