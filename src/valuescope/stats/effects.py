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


def auroc_weighted(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`auroc` of ``scores`` (n,) against the bool ``labels`` (n,) with each row counted
    ``weights[b, i]`` times, for every row ``b`` of ``weights`` (m, n) at once: the AUROC of the data set
    in which row i appears ``weights[b, i]`` times (a bootstrap resample), NaN where a class has no
    weight or a score is NaN. With integer weights the same numbers as ranking each resample."""
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(labels, dtype=bool)
    w = np.asarray(weights, dtype=float)
    if s.ndim != 1 or s.shape != lab.shape or w.ndim != 2 or w.shape[1] != len(s):
        raise ValueError(
            f"need scores (n,), labels (n,) and weights (m, n); got {s.shape}, {lab.shape} and {w.shape}"
        )
    if np.isnan(s).any():
        return np.full(len(w), np.nan)
    order = np.argsort(s, kind="stable")
    s_sorted, pos = s[order], lab[order]
    # tied scores form one block: a negative in the same block counts half
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    w_sorted = w[:, order]
    pos_w = np.add.reduceat(w_sorted * pos, starts, axis=1)
    neg_w = np.add.reduceat(w_sorted * ~pos, starts, axis=1)
    neg_below = np.cumsum(neg_w, axis=1) - neg_w
    u = (pos_w * (neg_below + 0.5 * neg_w)).sum(1)
    n_pos, n_neg = pos_w.sum(1), neg_w.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = u / (n_pos * n_neg)
    result: np.ndarray = np.where((n_pos == 0) | (n_neg == 0), np.nan, out)
    return result
