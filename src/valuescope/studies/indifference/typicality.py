"""Gradient indifference diagnostic (Li, Teng & Wang 2026): does an item lie further along its prototype
the more typical it is? ``typicality_spearman`` scores items on prototypes fit on other rows,
``crossfit_typicality_spearman`` cross-fits over lemmas, ``typicality_by_foundation`` reads it within
each foundation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from valuescope.data.moral_items import FOUNDATIONS, POLES
from valuescope.studies.indifference.diagnostic_settings import Measure, check_count, check_measure
from valuescope.studies.indifference.item_labels import (
    ItemLabels,
    as_matrix,
    lemma_folds,
    read_labels,
    require_neutral,
    row_index,
    select_rows,
)
from valuescope.studies.indifference.prototypes import neutral_mean, prototype_matrix


def _unit_rows(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm; zero rows stay zero."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rho (Pearson r of average ranks); NaN with fewer than 3 pairs or no spread."""
    if len(a) < 3:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    scale = float(np.linalg.norm(ra) * np.linalg.norm(rb))
    return float(ra @ rb) / scale if scale > 0 else float("nan")


def _typicality_scores(
    x: np.ndarray, labels: ItemLabels, fit: np.ndarray, evaluate: np.ndarray, measure: Measure
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, eval indices kept): moral ``evaluate`` rows whose cell has a prototype in the ``fit`` rows."""
    fit_labels = labels.take(fit)
    centre = neutral_mean(x[fit], fit_labels)
    if centre is None:
        return np.zeros(0), np.zeros(0, dtype=np.intp)
    protos, counts = prototype_matrix(x[fit], fit_labels)
    axes = _unit_rows(protos)
    cell = labels.cell[evaluate]
    keep = cell >= 0
    keep[keep] = counts[cell[keep]] > 0
    kept = evaluate[keep]
    centred = x[kept] - centre
    score = np.einsum("nd,nd->n", centred, axes[labels.cell[kept]])
    if measure == "cosine":
        norm = np.linalg.norm(centred, axis=1)
        score = np.divide(score, norm, out=np.zeros_like(score), where=norm > 0)
    return score, kept


def _fit_eval(
    X: np.ndarray, items: pd.DataFrame, fit_rows: np.ndarray, eval_rows: np.ndarray, measure: Measure
) -> tuple[np.ndarray, ItemLabels, np.ndarray, np.ndarray]:
    check_measure(measure)
    x = as_matrix(X)
    labels, _ = read_labels(items, len(x))
    fit = row_index(fit_rows, len(x), "fit_rows")
    evaluate = row_index(eval_rows, len(x), "eval_rows")
    require_neutral(labels.take(fit), "fit_rows")
    score, kept = _typicality_scores(x, labels, fit, evaluate, measure)
    return x, labels, score, kept


def typicality_spearman(
    X: np.ndarray,
    items: pd.DataFrame,
    fit_rows: np.ndarray,
    eval_rows: np.ndarray,
    *,
    measure: Measure = "projection",
) -> float:
    """Spearman rho between typicality and each moral ``eval_rows`` item's position along its own
    (foundation, kind) prototype axis, prototypes and neutral mean μ from ``fit_rows``.

    ``measure="projection"``: (x − μ)·unit(prototype), which also grows with the item's norm ‖x − μ‖;
    ``"cosine"``: that projection / ‖x − μ‖, direction only. Pooled over the eval items (projections on
    different axes share one ranking). Fit and eval rows should not share lemmas (see
    ``crossfit_typicality_spearman``). NaN with fewer than 3 items scored.
    """
    _, labels, score, kept = _fit_eval(X, items, fit_rows, eval_rows, measure)
    return _spearman(score, labels.typicality[kept])


def typicality_by_foundation(
    X: np.ndarray,
    items: pd.DataFrame,
    fit_rows: np.ndarray,
    eval_rows: np.ndarray,
    *,
    measure: Measure = "projection",
) -> pd.DataFrame:
    """``typicality_spearman`` within each foundation (both poles pooled): columns foundation, spearman, n."""
    _, labels, score, kept = _fit_eval(X, items, fit_rows, eval_rows, measure)
    found = labels.cell[kept] // len(POLES)
    records = []
    for i, f in enumerate(FOUNDATIONS):
        sel = found == i
        if sel.any():
            rho = _spearman(score[sel], labels.typicality[kept][sel])
            records.append({"foundation": f, "spearman": rho, "n": int(sel.sum())})
    return pd.DataFrame(records, columns=["foundation", "spearman", "n"])


def typicality_spearman_over_folds(
    x: np.ndarray, labels: ItemLabels, folds: list[tuple[np.ndarray, np.ndarray]] | None, measure: Measure
) -> float:
    """``crossfit_typicality_spearman`` of rows already read, over the given folds (None: NaN)."""
    if folds is None:
        return float("nan")
    scores, kept = zip(*(_typicality_scores(x, labels, tr, te, measure) for tr, te in folds), strict=True)
    return _spearman(np.concatenate(scores), labels.typicality[np.concatenate(kept)])


def crossfit_typicality_spearman(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    seed: int = 0,
    n_folds: int = 2,
    measure: Measure = "projection",
) -> float:
    """``typicality_spearman`` out of fold: the lemmas in ``rows`` are dealt into ``n_folds`` folds
    (``stats.grouped_folds``), each fold's items are scored on prototypes from the other folds, and one
    Spearman is taken over all scored items. NaN with fewer lemmas than folds."""
    check_count(n_folds, "n_folds", 2)
    check_measure(measure)
    x, labels, lemma = select_rows(X, items, rows)
    require_neutral(labels)
    return typicality_spearman_over_folds(x, labels, lemma_folds(lemma, n_folds, seed), measure)
