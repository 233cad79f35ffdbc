"""Moral indifference diagnostics (Li, Teng & Wang 2026) on residual-stream representations of items: four
questions about one read point, on a subset of items (virtue, vice and neutral words of the five moral
foundations), each answered by one number to be read against its shuffled-label null. The five
``METRICS`` come from ``prototypes`` (categorical), ``typicality`` (gradient), ``clustering``
(structural) and ``ridge_probe`` (dimensional); ``diagnostics`` gives them for one read point,
``shuffled_null`` the same with labels moved across whole lemmas (the chance level), ``layer_curves``
both along the layers. Randomness comes from ``seed``; results are deterministic for a given seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from valuescope.studies.indifference.clustering import (
    cluster_ari,
    foundation_cluster_ari,
    kmeans_clusters,
    pca_scores,
)
from valuescope.studies.indifference.diagnostic_settings import (
    CURVE_SETTINGS,
    DEFAULT_SETTINGS,
    METRICS,
    DiagnosticSettings,
    check_count,
    one_thread,
)
from valuescope.studies.indifference.item_labels import (
    NEUTRAL,
    ItemLabels,
    as_matrix,
    lemma_folds,
    require_neutral,
    select_labels,
    select_rows,
)
from valuescope.studies.indifference.prototypes import mean_foundation_cosine, virtue_vice_frame
from valuescope.studies.indifference.ridge_probe import probe_r2_per_target_set
from valuescope.studies.indifference.typicality import typicality_spearman_over_folds


def diagnostics_per_label_set(
    x: np.ndarray,
    label_sets: Sequence[ItemLabels],
    lemma: np.ndarray,
    seed: int,
    settings: DiagnosticSettings,
) -> list[dict[str, float]]:
    """The five diagnostics of ``x`` under each label set; what does not depend on labels is computed once."""
    typ_folds = lemma_folds(lemma, settings.typicality_folds, seed)
    probe = probe_r2_per_target_set(
        x,
        [lab.targets for lab in label_sets],
        lemma,
        lemma_folds(lemma, settings.probe_folds, seed),
        settings.alphas,
    )
    z = pca_scores(x, settings.max_components)
    clusters: dict[int, np.ndarray | None] = {}
    out = []
    for lab, r2 in zip(label_sets, probe, strict=True):
        k = len(np.unique(lab.kind))
        if k not in clusters:
            clusters[k] = kmeans_clusters(z, k, seed, settings.n_init)
        cosine = float("nan")
        if (lab.kind == NEUTRAL).any():
            cosine = mean_foundation_cosine(virtue_vice_frame(x, lab, raw=False), settings.min_items)
        out.append(
            {
                "virtue_vice_cosine": cosine,
                "typicality_spearman": typicality_spearman_over_folds(x, lab, typ_folds, settings.measure),
                "ari_valence": cluster_ari(clusters[k], lab.kind),
                "ari_foundation": foundation_cluster_ari(z, lab, seed, settings.n_init),
                "probe_r2": r2,
            }
        )
    return out


@one_thread
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
    x, labels, lemma = select_rows(X, items, rows)
    require_neutral(labels)
    return diagnostics_per_label_set(x, [labels], lemma, seed, settings)[0]


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


def _shuffled_labels(labels: ItemLabels, lemma: np.ndarray, n_perm: int, seed: int) -> list[ItemLabels]:
    """``n_perm`` lemma shuffles of ``labels`` (``_lemma_shuffle``), drawn from one seeded generator."""
    rng = np.random.default_rng(seed)
    return [labels.take(_lemma_shuffle(lemma, rng)) for _ in range(n_perm)]


def _mean_over(results: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per metric, the mean of its finite values over ``results`` (NaN if none)."""
    out = {}
    for name in METRICS:
        values = np.array([r[name] for r in results], dtype=float)
        out[name] = float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")
    return out


@one_thread
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
    check_count(n_perm, "n_perm", 1)
    x, labels, lemma = select_rows(X, items, rows)
    require_neutral(labels)
    label_sets = _shuffled_labels(labels, lemma, n_perm, seed)
    return _mean_over(diagnostics_per_label_set(x, label_sets, lemma, seed, settings))


@one_thread
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
    check_count(n_perm, "n_perm", 0)
    labels, lemma, idx = select_labels(items, rows, arr.shape[0])
    require_neutral(labels)
    label_sets = [labels, *_shuffled_labels(labels, lemma, n_perm, seed)]
    records = []
    for j, layer in enumerate(names):
        x = as_matrix(arr[idx, j, :], f"reads[:, {j}]")
        real, *null = diagnostics_per_label_set(x, label_sets, lemma, seed, settings)
        nulls = _mean_over(null) if null else dict.fromkeys(METRICS, float("nan"))
        records.append({"layer": layer, **real, **{f"{k}_null": v for k, v in nulls.items()}})
    return pd.DataFrame(records, columns=["layer", *METRICS, *(f"{m}_null" for m in METRICS)])
