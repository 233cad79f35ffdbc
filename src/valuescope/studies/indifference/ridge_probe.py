"""Dimensional indifference diagnostic (Li, Teng & Wang 2026): can a linear read-out recover the ten
foundation-pole scores? ``probe_r2``: out-of-fold R² of a ridge probe over folds of whole lemmas, its
penalty chosen per fold by exact closed-form leave-one-lemma-out cross-validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from valuescope.studies.indifference.diagnostic_settings import (
    DEFAULT_SETTINGS,
    check_alphas,
    check_count,
    one_thread,
)
from valuescope.studies.indifference.item_labels import lemma_folds, select_rows

_RANK_TOL = 1e-10  # eigenvalues below this fraction of the largest count as zero
_BLOCK_ELEMENTS = 2**22  # leave-group-out hat blocks are built this many floats at a time


def _thin_svd(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U (n, r), s (r,), V (d, r)) with z = U diag(s) V^T, from the eigenvectors of the smaller Gram."""
    n, d = z.shape
    gram = z.T @ z if n >= d else z @ z.T
    vals, vecs = np.linalg.eigh(gram)
    keep = vals > _RANK_TOL * max(float(vals[-1]), np.finfo(float).tiny)
    s = np.sqrt(vals[keep])
    if n >= d:
        v = vecs[:, keep]
        return (z @ v) / s, s, v
    u = vecs[:, keep]
    return u, s, (z.T @ u) / s


def _group_blocks(groups: np.ndarray) -> list[np.ndarray]:
    """Row indices of each group, stacked by group size: one (n_groups_of_size_m, m) array per size m."""
    codes, sizes = np.unique(groups, return_inverse=True, return_counts=True)[1:]
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    blocks = []
    for m in np.unique(sizes):
        which = np.flatnonzero(sizes == m)
        blocks.append(order[starts[which][:, None] + np.arange(m)])
    return blocks


def _leave_group_out_sse(
    u: np.ndarray,
    s: np.ndarray,
    uty: Sequence[np.ndarray],
    centred: Sequence[np.ndarray],
    blocks: Sequence[np.ndarray],
    alphas: tuple[float, ...],
) -> np.ndarray:
    """(n_alphas, n_target_sets) leave-one-group-out SSE of ridge with an unpenalised intercept, every
    alpha at once; ``u``, ``s`` from the centred rows, ``centred`` the centred targets.

    The held-out residuals of group g are (I - H_gg)^-1 r_g, with H = 11^T/n + U diag(s²/(s²+α)) U^T the
    hat matrix and r the in-sample residuals: exact, the intercept refitted without the group. (Without
    the 11^T/n term, held-out rows would still share the centring, and with more features than rows a
    nearly interpolating fit recovers a held-out group from the others through it.)
    """
    shrink = s[:, None] ** 2 / (s[:, None] ** 2 + np.asarray(alphas)[None, :])  # (r, n_alphas)
    n_alphas = len(alphas)
    sse = np.zeros((n_alphas, len(uty)))
    resid = []  # (n_alphas, n, T) in-sample residuals per target set
    for proj, yc in zip(uty, centred, strict=True):
        fitted = u @ (shrink[:, :, None] * proj[:, None, :]).reshape(len(s), -1)
        resid.append(yc[None] - np.moveaxis(fitted.reshape(len(u), n_alphas, -1), 1, 0))
    for b in blocks:
        m = b.shape[1]
        for start in range(0, len(b), max(1, _BLOCK_ELEMENTS // (m * m * len(s)))):
            rows = b[start : start + max(1, _BLOCK_ELEMENTS // (m * m * len(s)))]
            ub = u[rows]  # (B, m, r)
            hat = (ub[:, :, None, :] * ub[:, None, :, :]) @ shrink + 1.0 / len(u)  # (B, m, m, n_alphas)
            inv = np.linalg.inv(np.eye(m) - np.moveaxis(hat, 3, 0))  # (n_alphas, B, m, m)
            for t, r in enumerate(resid):
                held = inv @ r[:, rows]  # (n_alphas, B, m, T)
                sse[:, t] += (held**2).sum(axis=(1, 2, 3))
    return sse


def probe_r2_per_target_set(
    x: np.ndarray,
    targets: Sequence[np.ndarray],
    lemma: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]] | None,
    alphas: tuple[float, ...],
) -> list[float]:
    """Out-of-fold pooled R² of a ridge probe x -> each target matrix, sharing each fold's decomposition."""
    if folds is None:
        return [float("nan")] * len(targets)
    sse = np.zeros(len(targets))
    sst = np.zeros(len(targets))
    for train, test in folds:
        xtr = x[train]
        mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        u, s, v = _thin_svd((xtr - mu) / sd)
        zte = (x[test] - mu) / sd
        blocks = _group_blocks(lemma[train])
        means = [y[train].mean(axis=0) for y in targets]
        centred = [y[train] - m for y, m in zip(targets, means, strict=True)]
        uty = [u.T @ yc for yc in centred]
        inner = _leave_group_out_sse(u, s, uty, centred, blocks, alphas)
        for t, (y, m) in enumerate(zip(targets, means, strict=True)):
            alpha = alphas[int(np.argmin(inner[:, t]))]
            coef = v @ ((s / (s**2 + alpha))[:, None] * uty[t])
            pred = zte @ coef + m
            sse[t] += float(((y[test] - pred) ** 2).sum())
            sst[t] += float(((y[test] - m) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    return [float(r) for r in r2]


@one_thread
def probe_r2(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    n_folds: int = 5,
    alphas: Sequence[float] = DEFAULT_SETTINGS.alphas,
    seed: int = 0,
) -> float:
    """Out-of-fold R² of a ridge probe from ``X`` to the ten ``VECTOR_COLUMNS``, on every row of ``rows``
    (neutral items included, their targets zero).

    Outer folds deal whole lemmas (``stats.grouped_folds``). In each, X is standardised with the training
    part's mean and SD, and the penalty is the one of ``alphas`` with the lowest leave-one-lemma-out error
    on the training part (in closed form, exact: the intercept is refitted without each lemma, only the
    feature scaling comes from the whole part). R² = 1 − SSE/SST pooled over folds, items and the ten
    targets, SST about each fold's training mean: a variance-weighted out-of-fold R², negative when the
    probe predicts worse than the mean. NaN with fewer lemmas than folds.
    """
    check_count(n_folds, "n_folds", 2)
    grid = check_alphas(alphas)
    x, labels, lemma = select_rows(X, items, rows)
    return probe_r2_per_target_set(x, [labels.targets], lemma, lemma_folds(lemma, n_folds, seed), grid)[0]
