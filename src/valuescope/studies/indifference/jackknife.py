"""Delete-a-block jackknife intervals over lemmas for the moral indifference diagnostics:
``jackknife_diagnostics`` for one model, ``paired_jackknife`` for an edit's after − before. A lemma
bootstrap is not offered: a resample holds about 63% distinct lemmas, and ARI, out-of-fold R² and the
typicality Spearman weaken with fewer items, so its intervals sat beside the estimate, biased toward
chance (measured on planted weak geometry: ARI 0.25 on the data, median 0.04 over resamples)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.stats

from valuescope.stats import Estimate, grouped_folds
from valuescope.studies.indifference.diagnostic_settings import (
    DEFAULT_SETTINGS,
    METRICS,
    DiagnosticSettings,
    one_thread,
)
from valuescope.studies.indifference.geometry_diagnostics import diagnostics_per_label_set
from valuescope.studies.indifference.item_labels import as_matrix, require_neutral, row_index, select_rows


def _jackknife_each(
    statistic: Callable[[np.ndarray], dict[str, float]],
    n_rows: int,
    lemma: np.ndarray,
    *,
    n_blocks: int,
    level: float,
    seed: int,
    test_zero: Callable[[str], bool] = lambda name: False,
) -> dict[str, Estimate]:
    """Jackknife estimates of every key ``statistic`` returns (p-values for keys ``test_zero`` names)."""
    n_lemmas = len(np.unique(lemma))
    blocks = min(int(n_blocks), n_lemmas)
    if blocks < 3:
        raise ValueError(f"the jackknife needs at least 3 lemmas (got {n_lemmas})")
    full = statistic(np.arange(n_rows))
    leave = [statistic(np.flatnonzero(keep)) for keep, _ in grouped_folds(lemma, blocks, seed=seed)]
    quantile = float(scipy.stats.t.ppf(0.5 + level / 2, blocks - 1))
    out = {}
    for name in full:
        values = np.array([r[name] for r in leave], dtype=float)
        est = float(full[name])
        if not np.isfinite(est) or not np.isfinite(values).all():
            out[name] = Estimate(float("nan"), float("nan"), float("nan"), None, n_lemmas)
            continue
        se = float(np.sqrt((blocks - 1) / blocks * ((values - values.mean()) ** 2).sum()))
        p = None
        if test_zero(name):
            p = 1.0 if se == 0 else float(2 * scipy.stats.t.sf(abs(est) / se, blocks - 1))
        out[name] = Estimate(est, est - quantile * se, est + quantile * se, p, n_lemmas)
    return out


@one_thread
def jackknife_diagnostics(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    n_blocks: int = 20,
    seed: int = 0,
    level: float = 0.95,
    settings: DiagnosticSettings = DEFAULT_SETTINGS,
) -> dict[str, Estimate]:
    """The five ``diagnostics`` on ``rows`` with delete-a-block jackknife intervals over lemmas.

    Lemmas are dealt into ``n_blocks`` blocks; each block is left out once and everything (folds, k-means,
    probe) recomputed on the rest. SE = sqrt((B-1)/B sum (theta_b - mean)^2); the interval is the full-data
    estimate +- t(B-1) SE. Unlike a bootstrap resample (about 63% distinct lemmas), each jackknife replicate
    keeps (B-1)/B of the lemmas, so metrics that weaken with fewer items (ARI, out-of-fold R²) are not
    dragged toward chance. ``Estimate.n`` counts lemmas; p is None.
    """
    x, labels, lemma = select_rows(X, items, rows)
    require_neutral(labels)

    def statistic(idx: np.ndarray) -> dict[str, float]:
        return diagnostics_per_label_set(x[idx], [labels.take(idx)], lemma[idx], seed, settings)[0]

    return _jackknife_each(statistic, len(x), lemma, n_blocks=n_blocks, level=level, seed=seed)


@one_thread
def paired_jackknife(
    X_before: np.ndarray,
    X_after: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    n_blocks: int = 20,
    seed: int = 0,
    level: float = 0.95,
    settings: DiagnosticSettings = DEFAULT_SETTINGS,
) -> tuple[dict[str, Estimate], dict[str, Estimate]]:
    """(after, change): ``jackknife_diagnostics`` of ``X_after`` and of after - before, from the same
    left-out blocks (each diagnostic computed once per block and read-out), the change with a two-sided
    t-test p-value against 0 (df = blocks - 1)."""
    before = as_matrix(X_before, "X_before")
    after = as_matrix(X_after, "X_after")
    if before.shape != after.shape:
        raise ValueError(f"X_before {before.shape} and X_after {after.shape} must have the same shape")
    xb, labels, lemma = select_rows(before, items, rows)
    xa = after[row_index(rows, len(after))]
    require_neutral(labels)

    def statistic(idx: np.ndarray) -> dict[str, float]:
        lab, lem = labels.take(idx), lemma[idx]
        b = diagnostics_per_label_set(xb[idx], [lab], lem, seed, settings)[0]
        a = diagnostics_per_label_set(xa[idx], [lab], lem, seed, settings)[0]
        return {**{f"after:{m}": a[m] for m in METRICS}, **{f"change:{m}": a[m] - b[m] for m in METRICS}}

    both = _jackknife_each(
        statistic,
        len(xb),
        lemma,
        n_blocks=n_blocks,
        level=level,
        seed=seed,
        test_zero=lambda name: name.startswith("change:"),
    )
    return (
        {m: both[f"after:{m}"] for m in METRICS},
        {m: both[f"change:{m}"] for m in METRICS},
    )
