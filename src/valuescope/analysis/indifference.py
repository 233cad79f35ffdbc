"""Moral indifference diagnostics (Li, Teng & Wang 2026) on residual-stream representations of items.

Four questions about one read point, on a subset of items (virtue, vice and neutral words of the five
moral foundations), each answered by one number to be read against its shuffled-label null:

- Categorical: do virtue and vice of a foundation point apart? ``virtue_vice_cosine``: the cosine of the
  two prototypes, each a mean minus the neutral items' mean (raw residual means share a large common
  component that would make every cosine near +1; ``raw=True`` shows it). Low (negative) is structure.
- Gradient: does an item lie further along its prototype the more typical it is? ``typicality_spearman``,
  cross-fitted over lemmas (``crossfit_typicality_spearman``).
- Structural: do unsupervised clusters recover valence and foundation? ``ari_valence``,
  ``ari_foundation``: k-means in the top principal components, adjusted Rand index against the labels.
  Near 1 for both needs valence and foundation both to dominate the geometry at once, which k-means
  cannot grant: clusters split on the larger separation (a geometry can score 1 on one and ~0 on the
  other).
- Dimensional: can a linear read-out recover the ten foundation-pole scores? ``probe_r2``: out-of-fold R²
  of a ridge probe, folds of whole lemmas.

``diagnostics`` gives the five for one read point, ``shuffled_null`` the same with labels moved across
whole lemmas (the chance level), ``layer_curves`` both along the layers, ``jackknife_diagnostics`` and
``paired_jackknife`` delete-a-block jackknife intervals over lemmas (for one model, and for an edit's
after − before). A lemma bootstrap is not offered: a resample holds about 63% distinct lemmas, and ARI,
out-of-fold R² and the typicality Spearman weaken with fewer items, so its intervals sat beside the
estimate, biased toward chance (measured on planted weak geometry: ARI 0.25 on the data, median 0.04
over resamples).

``items`` is a DataFrame with one row per item, aligned with the rows of ``X``: ``lemma`` (the sampling
unit: inflections of one word share it; folds and resamples move whole lemmas), ``kind`` (virtue, vice or
neutral), ``foundation`` (one of ``FOUNDATIONS``, anything for neutral items), ``typicality`` (in [0, 1])
and the ten ``VECTOR_COLUMNS``. Randomness comes from ``seed``; results are deterministic for a given seed.

The functions that cluster or fit the probe run with BLAS and OpenMP limited to one thread: their matrices
are moderate (thousands of items by hundreds of features, many times over), and on a busy 2-core machine
multi-threaded OpenBLAS, and OpenMP workers left spinning after k-means, made them 5-10x slower. For more
speed run layers or resamples in parallel processes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from valuescope.analysis.stats import Estimate, grouped_folds
from valuescope.stimuli.moral_items import FOUNDATIONS, KINDS, POLES, VECTOR_COLUMNS

__all__ = [
    "CURVE_SETTINGS",
    "DEFAULT_SETTINGS",
    "FAST_SETTINGS",
    "FOUNDATIONS",
    "KINDS",
    "METRICS",
    "POLES",
    "REQUIRED_COLUMNS",
    "VECTOR_COLUMNS",
    "DiagnosticSettings",
    "ari_foundation",
    "ari_valence",
    "crossfit_typicality_spearman",
    "diagnostics",
    "jackknife_diagnostics",
    "layer_curves",
    "mean_virtue_vice_cosine",
    "paired_jackknife",
    "probe_r2",
    "prototypes",
    "shuffled_null",
    "typicality_by_foundation",
    "typicality_spearman",
    "virtue_vice_cosine",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("lemma", "kind", "foundation", "typicality", *VECTOR_COLUMNS)
METRICS: tuple[str, ...] = (
    "virtue_vice_cosine",
    "typicality_spearman",
    "ari_valence",
    "ari_foundation",
    "probe_r2",
)

Measure = Literal["projection", "cosine"]
P = ParamSpec("P")
T = TypeVar("T")

_NEUTRAL = KINDS.index("neutral")
_N_CELLS = len(FOUNDATIONS) * len(POLES)
_RANK_TOL = 1e-10  # eigenvalues below this fraction of the largest count as zero
_BLOCK_ELEMENTS = 2**22  # leave-group-out hat blocks are built this many floats at a time


def _check_count(value: int, name: str, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_alphas(alphas: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(a) for a in alphas)
    if not out or not all(np.isfinite(a) and a > 0 for a in out):
        raise ValueError(f"alphas must be a non-empty sequence of positive ridge penalties, got {alphas!r}")
    return out


def _check_measure(measure: str) -> None:
    if measure not in ("projection", "cosine"):
        raise ValueError(f"measure must be 'projection' or 'cosine', got {measure!r}")


def _one_thread(func: Callable[P, T]) -> Callable[P, T]:
    """Run ``func`` with BLAS and OpenMP limited to one thread (see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with threadpool_limits(limits=1):
            return func(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class DiagnosticSettings:
    """How the five diagnostics are computed; ``FAST_SETTINGS`` trades precision for speed."""

    n_init: int = 10
    """k-means restarts (best inertia kept)."""
    max_components: int = 50
    """k-means runs on the top min(max_components, n - 1, d) principal components of all the rows (centred,
    not standardised), fit once per read point; ari_foundation clusters the moral rows in that space."""
    typicality_folds: int = 2
    """Folds of whole lemmas for the cross-fitted typicality Spearman."""
    probe_folds: int = 5
    """Outer folds of whole lemmas for the ridge probe's out-of-fold R²."""
    alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    """Ridge penalties on standardised features, one chosen per outer fold by leave-one-lemma-out CV on its
    training part. The training Gram's eigenvalues scale with n, so the grid reaches 1e5: on features
    unrelated to the targets the probe can then shrink to the mean (R² near 0, not well below)."""
    min_items: int = 3
    """A foundation enters the mean virtue-vice cosine when both poles have at least this many items."""
    measure: Measure = "projection"
    """Typicality score: projection on the prototype axis, or that projection / ‖x − μ‖ (a cosine)."""

    def __post_init__(self) -> None:
        for name in ("n_init", "max_components", "min_items"):
            _check_count(getattr(self, name), name, 1)
        for name in ("typicality_folds", "probe_folds"):
            _check_count(getattr(self, name), name, 2)
        _check_alphas(self.alphas)
        _check_measure(self.measure)


DEFAULT_SETTINGS = DiagnosticSettings()
CURVE_SETTINGS = DiagnosticSettings(n_init=4)
FAST_SETTINGS = DiagnosticSettings(n_init=2, probe_folds=3)  # penalties are nearly free: the grid stays

# ----------------------------------------------------------------------------------------------------------
# items, rows and read-outs


@dataclass(frozen=True)
class _Labels:
    """Per-row labels as arrays: kind code (index in KINDS), cell (foundation * 2 + pole, -1 for neutral)."""

    kind: np.ndarray
    cell: np.ndarray
    typicality: np.ndarray
    targets: np.ndarray

    def take(self, idx: np.ndarray) -> _Labels:
        return _Labels(self.kind[idx], self.cell[idx], self.typicality[idx], self.targets[idx])

    @property
    def moral(self) -> np.ndarray:
        return self.kind != _NEUTRAL


def _read_items(items: pd.DataFrame, n_rows: int) -> tuple[_Labels, np.ndarray]:
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
    moral = kind != _NEUTRAL
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
    return _Labels(kind, cell, typicality, targets), lemma.astype(np.intp)


def _matrix(X: np.ndarray, name: str = "X") -> np.ndarray:
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (items, features), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} has {int((~np.isfinite(arr)).sum())} NaN or infinite entries; drop them first"
        )
    return arr


def _row_index(rows: np.ndarray | None, n_rows: int, name: str = "rows") -> np.ndarray:
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


def _subset(
    X: np.ndarray, items: pd.DataFrame, rows: np.ndarray | None
) -> tuple[np.ndarray, _Labels, np.ndarray]:
    """(x, labels, lemma codes) of the selected rows."""
    x = _matrix(X)
    labels, lemma = _read_items(items, len(x))
    idx = _row_index(rows, len(x))
    return x[idx], labels.take(idx), lemma[idx]


def _require_neutral(labels: _Labels, what: str = "rows") -> None:
    if not (labels.kind == _NEUTRAL).any():
        raise ValueError(
            f"{what} hold no neutral items; prototypes are centred on the neutral items' mean, so include "
            "neutral items (or use raw=True where offered)"
        )


# ----------------------------------------------------------------------------------------------------------
# small numerics


def _unit_rows(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm; zero rows stay zero."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.clip(a @ b / scale, -1.0, 1.0)) if scale > 0 else float("nan")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rho (Pearson r of average ranks); NaN with fewer than 3 pairs or no spread."""
    if len(a) < 3:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    scale = float(np.linalg.norm(ra) * np.linalg.norm(rb))
    return float(ra @ rb) / scale if scale > 0 else float("nan")


def _cell_means(x: np.ndarray, labels: _Labels) -> tuple[np.ndarray, np.ndarray]:
    """((10, d) mean of each (foundation, pole) cell, NaN-free with zeros where empty; (10,) counts)."""
    moral = labels.moral
    onehot = np.zeros((int(moral.sum()), _N_CELLS))
    onehot[np.arange(len(onehot)), labels.cell[moral]] = 1.0
    counts = onehot.sum(axis=0)
    sums = onehot.T @ x[moral]
    return sums / np.maximum(counts, 1.0)[:, None], counts


def _neutral_mean(x: np.ndarray, labels: _Labels) -> np.ndarray | None:
    neutral = labels.kind == _NEUTRAL
    return x[neutral].mean(axis=0) if neutral.any() else None


def _prototype_matrix(x: np.ndarray, labels: _Labels, *, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """((10, d) cell means minus the neutral mean (zero rows where empty, NaN if no neutral), counts)."""
    means, counts = _cell_means(x, labels)
    if raw:
        return means, counts
    centre = _neutral_mean(x, labels)
    if centre is None:
        return np.full_like(means, np.nan), counts
    return np.where(counts[:, None] > 0, means - centre, 0.0), counts


# ----------------------------------------------------------------------------------------------------------
# categorical: virtue-vice prototypes


def prototypes(
    X: np.ndarray, items: pd.DataFrame, rows: np.ndarray | None = None, *, raw: bool = False
) -> dict[tuple[str, str], np.ndarray]:
    """Per (foundation, pole) with at least one item in ``rows``: the mean of its items' rows of ``X`` minus
    the mean of the neutral items (``raw=True``: no subtraction). ValueError if centring without neutrals."""
    x, labels, _ = _subset(X, items, rows)
    if not raw:
        _require_neutral(labels)
    protos, counts = _prototype_matrix(x, labels, raw=raw)
    return {
        (f, p): protos[i * len(POLES) + j]
        for i, f in enumerate(FOUNDATIONS)
        for j, p in enumerate(POLES)
        if counts[i * len(POLES) + j] > 0
    }


def _virtue_vice_frame(x: np.ndarray, labels: _Labels, *, raw: bool) -> pd.DataFrame:
    protos, counts = _prototype_matrix(x, labels, raw=raw)
    records = []
    for i, f in enumerate(FOUNDATIONS):
        v, c = i * len(POLES) + POLES.index("virtue"), i * len(POLES) + POLES.index("vice")
        if counts[v] == 0 and counts[c] == 0:
            continue
        cos = _cosine(protos[v], protos[c]) if counts[v] and counts[c] else float("nan")
        records.append({"foundation": f, "cosine": cos, "n_virtue": int(counts[v]), "n_vice": int(counts[c])})
    return pd.DataFrame(records, columns=["foundation", "cosine", "n_virtue", "n_vice"])


def _mean_cosine(frame: pd.DataFrame, min_items: int) -> float:
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
    x, labels, _ = _subset(X, items, rows)
    if not raw:
        _require_neutral(labels)
    return _virtue_vice_frame(x, labels, raw=raw)


def mean_virtue_vice_cosine(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    min_items: int = 3,
    raw: bool = False,
) -> float:
    """Mean ``virtue_vice_cosine`` over foundations whose poles both have >= ``min_items`` items, else NaN."""
    _check_count(min_items, "min_items", 1)
    return _mean_cosine(virtue_vice_cosine(X, items, rows, raw=raw), min_items)


# ----------------------------------------------------------------------------------------------------------
# gradient: typicality along the prototype axis


def _typicality_scores(
    x: np.ndarray, labels: _Labels, fit: np.ndarray, evaluate: np.ndarray, measure: Measure
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, eval indices kept): moral ``evaluate`` rows whose cell has a prototype in the ``fit`` rows."""
    fit_labels = labels.take(fit)
    centre = _neutral_mean(x[fit], fit_labels)
    if centre is None:
        return np.zeros(0), np.zeros(0, dtype=np.intp)
    protos, counts = _prototype_matrix(x[fit], fit_labels)
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
) -> tuple[np.ndarray, _Labels, np.ndarray, np.ndarray]:
    _check_measure(measure)
    x = _matrix(X)
    labels, _ = _read_items(items, len(x))
    fit = _row_index(fit_rows, len(x), "fit_rows")
    evaluate = _row_index(eval_rows, len(x), "eval_rows")
    _require_neutral(labels.take(fit), "fit_rows")
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


def _folds(lemma: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Grouped folds as index arrays, or None with fewer lemmas than folds."""
    if len(np.unique(lemma)) < k:
        return None
    return [(np.flatnonzero(tr), np.flatnonzero(te)) for tr, te in grouped_folds(lemma, k, seed=seed)]


def _crossfit_typicality(
    x: np.ndarray, labels: _Labels, folds: list[tuple[np.ndarray, np.ndarray]] | None, measure: Measure
) -> float:
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
    _check_count(n_folds, "n_folds", 2)
    _check_measure(measure)
    x, labels, lemma = _subset(X, items, rows)
    _require_neutral(labels)
    return _crossfit_typicality(x, labels, _folds(lemma, n_folds, seed), measure)


# ----------------------------------------------------------------------------------------------------------
# structural: k-means against the labels


def _pca_scores(x: np.ndarray, max_components: int) -> np.ndarray:
    """Centred rows projected on their top min(max_components, n - 1, d) principal components."""
    n, d = x.shape
    k = min(max_components, n - 1, d)
    xc = x - x.mean(axis=0)
    if k < 1:
        return np.zeros((n, 0))
    if n >= d:
        _, vecs = scipy.linalg.eigh(xc.T @ xc, subset_by_index=[d - k, d - 1])
        return xc @ vecs[:, ::-1]
    vals, vecs = scipy.linalg.eigh(xc @ xc.T, subset_by_index=[n - k, n - 1])
    return vecs[:, ::-1] * np.sqrt(np.clip(vals[::-1], 0.0, None))


def _kmeans(z: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray | None:
    """Cluster labels, or None when k-means is undefined (fewer than 2 clusters or not enough rows)."""
    if k < 2 or len(z) <= k or z.shape[1] == 0:
        return None
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(z)


def _ari(clusters: np.ndarray | None, truth: np.ndarray) -> float:
    return float("nan") if clusters is None else float(adjusted_rand_score(truth, clusters))


def _foundation_ari(z: np.ndarray, labels: _Labels, seed: int, n_init: int) -> float:
    """ARI of k-means on the moral rows of ``z`` (principal-component scores) against their foundation."""
    moral = labels.moral
    truth = labels.cell[moral] // len(POLES)
    return _ari(_kmeans(z[moral], len(np.unique(truth)), seed, n_init), truth)


@_one_thread
def ari_valence(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    seed: int = 0,
    n_init: int = 10,
) -> float:
    """Adjusted Rand index between k-means clusters of ``rows`` and their kind (virtue/vice/neutral).

    k is the number of kinds present; k-means runs on the rows centred and projected on their top
    min(50, n - 1, d) principal components (no per-feature standardising). NaN with fewer than 2 kinds.
    """
    x, labels, _ = _subset(X, items, rows)
    z = _pca_scores(x, DEFAULT_SETTINGS.max_components)
    k = len(np.unique(labels.kind))
    return _ari(_kmeans(z, k, seed, _check_count(n_init, "n_init", 1)), labels.kind)


@_one_thread
def ari_foundation(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    seed: int = 0,
    n_init: int = 10,
) -> float:
    """``ari_valence`` for foundations: k-means on the virtue and vice items of ``rows`` only, k the number
    of foundations present, ARI against the foundation. The items are clustered in the same principal
    components as in ``ari_valence`` (fit on all of ``rows``, so the space does not depend on the labels)."""
    x, labels, _ = _subset(X, items, rows)
    z = _pca_scores(x, DEFAULT_SETTINGS.max_components)
    return _foundation_ari(z, labels, seed, _check_count(n_init, "n_init", 1))


# ----------------------------------------------------------------------------------------------------------
# dimensional: ridge probe


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


def _probe_r2(
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


@_one_thread
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
    _check_count(n_folds, "n_folds", 2)
    grid = _check_alphas(alphas)
    x, labels, lemma = _subset(X, items, rows)
    return _probe_r2(x, [labels.targets], lemma, _folds(lemma, n_folds, seed), grid)[0]


# ----------------------------------------------------------------------------------------------------------
# the five together, their shuffled null, and layer curves


def _metrics(
    x: np.ndarray, label_sets: Sequence[_Labels], lemma: np.ndarray, seed: int, settings: DiagnosticSettings
) -> list[dict[str, float]]:
    """The five diagnostics of ``x`` under each label set; what does not depend on labels is computed once."""
    typ_folds = _folds(lemma, settings.typicality_folds, seed)
    probe = _probe_r2(
        x,
        [lab.targets for lab in label_sets],
        lemma,
        _folds(lemma, settings.probe_folds, seed),
        settings.alphas,
    )
    z = _pca_scores(x, settings.max_components)
    clusters: dict[int, np.ndarray | None] = {}
    out = []
    for lab, r2 in zip(label_sets, probe, strict=True):
        k = len(np.unique(lab.kind))
        if k not in clusters:
            clusters[k] = _kmeans(z, k, seed, settings.n_init)
        has_neutral = bool((lab.kind == _NEUTRAL).any())
        out.append(
            {
                "virtue_vice_cosine": _mean_cosine(_virtue_vice_frame(x, lab, raw=False), settings.min_items)
                if has_neutral
                else float("nan"),
                "typicality_spearman": _crossfit_typicality(x, lab, typ_folds, settings.measure),
                "ari_valence": _ari(clusters[k], lab.kind),
                "ari_foundation": _foundation_ari(z, lab, seed, settings.n_init),
                "probe_r2": r2,
            }
        )
    return out


@_one_thread
def diagnostics(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    seed: int = 0,
    settings: DiagnosticSettings = DEFAULT_SETTINGS,
) -> dict[str, float]:
    """The five diagnostics of one read point on ``rows``: keys ``METRICS``.

    virtue_vice_cosine is ``mean_virtue_vice_cosine``, typicality_spearman
    ``crossfit_typicality_spearman``, then ``ari_valence``, ``ari_foundation``, ``probe_r2``, with the
    folds, k-means restarts and penalties of ``settings``.
    """
    x, labels, lemma = _subset(X, items, rows)
    _require_neutral(labels)
    return _metrics(x, [labels], lemma, seed, settings)[0]


def _lemma_shuffle(lemma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Source row per row: the rows of lemma g take the labels of the rows of lemma π(g), π a random
    permutation of lemmas (row j of g takes row j mod size of π(g), so unequal sizes work)."""
    codes, sizes = np.unique(lemma, return_inverse=True, return_counts=True)[1:]
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.empty(len(codes), dtype=np.intp)
    position[order] = np.arange(len(codes)) - starts[codes[order]]
    source = rng.permutation(len(sizes))[codes]
    return order[starts[source] + position % sizes[source]]


def _shuffled_labels(labels: _Labels, lemma: np.ndarray, n_perm: int, seed: int) -> list[_Labels]:
    rng = np.random.default_rng(seed)
    return [labels.take(_lemma_shuffle(lemma, rng)) for _ in range(n_perm)]


def _mean_over(results: Sequence[dict[str, float]]) -> dict[str, float]:
    out = {}
    for name in METRICS:
        values = np.array([r[name] for r in results], dtype=float)
        out[name] = float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")
    return out


@_one_thread
def shuffled_null(
    X: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    n_perm: int = 1,
    seed: int = 0,
    settings: DiagnosticSettings = DEFAULT_SETTINGS,
) -> dict[str, float]:
    """``diagnostics`` with the labels shuffled across whole lemmas, averaged over ``n_perm`` shuffles.

    Each lemma takes another lemma's labels (kind, foundation, typicality and vector columns together), so
    the null keeps the design's counts and within-lemma structure and breaks only the link to ``X``.
    """
    _check_count(n_perm, "n_perm", 1)
    x, labels, lemma = _subset(X, items, rows)
    _require_neutral(labels)
    return _mean_over(_metrics(x, _shuffled_labels(labels, lemma, n_perm, seed), lemma, seed, settings))


@_one_thread
def layer_curves(
    reads: np.ndarray,
    layers: Sequence[int],
    items: pd.DataFrame,
    rows: np.ndarray | None = None,
    *,
    seed: int = 0,
    n_perm: int = 1,
    settings: DiagnosticSettings = CURVE_SETTINGS,
) -> pd.DataFrame:
    """One row per layer: ``layer``, the five ``diagnostics`` and ``<metric>_null`` (``shuffled_null``).

    ``reads`` is (n_items, n_layers, d), ``reads[:, j]`` the read point named ``layers[j]``. Every layer's
    null uses the same ``n_perm`` shuffles (``n_perm=0``: null columns NaN). Defaults to
    ``CURVE_SETTINGS`` (4 k-means restarts); each row equals ``diagnostics`` / ``shuffled_null`` of that
    layer with the same settings and seed.
    """
    arr = np.asarray(reads)
    if arr.ndim != 3:
        raise ValueError(f"reads must be 3-D (items, layers, features), got shape {arr.shape}")
    names = [int(layer) for layer in layers]
    if len(names) != arr.shape[1]:
        raise ValueError(f"layers names {len(names)} read points but reads has {arr.shape[1]} (axis 1)")
    _check_count(n_perm, "n_perm", 0)
    labels, lemma = _read_items(items, arr.shape[0])
    idx = _row_index(rows, arr.shape[0])
    labels, lemma = labels.take(idx), lemma[idx]
    _require_neutral(labels)
    label_sets = [labels, *_shuffled_labels(labels, lemma, n_perm, seed)]
    records = []
    for j, layer in enumerate(names):
        x = _matrix(arr[idx, j, :], f"reads[:, {j}]")
        real, *null = _metrics(x, label_sets, lemma, seed, settings)
        nulls = _mean_over(null) if null else dict.fromkeys(METRICS, float("nan"))
        records.append({"layer": layer, **real, **{f"{k}_null": v for k, v in nulls.items()}})
    return pd.DataFrame(records, columns=["layer", *METRICS, *(f"{m}_null" for m in METRICS)])


# ----------------------------------------------------------------------------------------------------------
# grouped jackknife


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


@_one_thread
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
    x, labels, lemma = _subset(X, items, rows)
    _require_neutral(labels)

    def statistic(idx: np.ndarray) -> dict[str, float]:
        return _metrics(x[idx], [labels.take(idx)], lemma[idx], seed, settings)[0]

    return _jackknife_each(statistic, len(x), lemma, n_blocks=n_blocks, level=level, seed=seed)


@_one_thread
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
    before = _matrix(X_before, "X_before")
    after = _matrix(X_after, "X_after")
    if before.shape != after.shape:
        raise ValueError(f"X_before {before.shape} and X_after {after.shape} must have the same shape")
    xb, labels, lemma = _subset(before, items, rows)
    xa = after[_row_index(rows, len(after))]
    _require_neutral(labels)

    def statistic(idx: np.ndarray) -> dict[str, float]:
        lab, lem = labels.take(idx), lemma[idx]
        b = _metrics(xb[idx], [lab], lem, seed, settings)[0]
        a = _metrics(xa[idx], [lab], lem, seed, settings)[0]
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
