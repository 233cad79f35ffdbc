"""Structural indifference diagnostic (Li, Teng & Wang 2026): do unsupervised clusters recover valence and
foundation? ``ari_valence``, ``ari_foundation``: k-means in the top principal components, adjusted Rand
index against the labels. Near 1 for both needs valence and foundation both to dominate the geometry at
once, which k-means cannot grant: clusters split on the larger separation (a geometry can score 1 on one
and ~0 on the other)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from valuescope.data.moral_items import POLES
from valuescope.studies.indifference.diagnostic_settings import DEFAULT_SETTINGS, check_count, one_thread
from valuescope.studies.indifference.item_labels import ItemLabels, select_rows


def pca_scores(x: np.ndarray, max_components: int) -> np.ndarray:
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


def kmeans_clusters(z: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray | None:
    """Cluster labels, or None when k-means is undefined (fewer than 2 clusters or not enough rows)."""
    if k < 2 or len(z) <= k or z.shape[1] == 0:
        return None
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(z)


def cluster_ari(clusters: np.ndarray | None, truth: np.ndarray) -> float:
    """Adjusted Rand index of ``clusters`` against ``truth``; NaN where k-means was undefined (None)."""
    return float("nan") if clusters is None else float(adjusted_rand_score(truth, clusters))


def foundation_cluster_ari(z: np.ndarray, labels: ItemLabels, seed: int, n_init: int) -> float:
    """ARI of k-means on the moral rows of ``z`` (principal-component scores) against their foundation."""
    moral = labels.moral
    truth = labels.cell[moral] // len(POLES)
    return cluster_ari(kmeans_clusters(z[moral], len(np.unique(truth)), seed, n_init), truth)


@one_thread
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
    x, labels, _ = select_rows(X, items, rows)
    z = pca_scores(x, DEFAULT_SETTINGS.max_components)
    k = len(np.unique(labels.kind))
    return cluster_ari(kmeans_clusters(z, k, seed, check_count(n_init, "n_init", 1)), labels.kind)


@one_thread
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
    x, labels, _ = select_rows(X, items, rows)
    z = pca_scores(x, DEFAULT_SETTINGS.max_components)
    return foundation_cluster_ari(z, labels, seed, check_count(n_init, "n_init", 1))
