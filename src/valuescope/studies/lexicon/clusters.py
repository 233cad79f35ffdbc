"""Semantic clusters of value terms and their agreement with ValueLex's taxonomy.

The value-lexicon study embeds each elicited value term (a sentence-embedding model) and:

- Clusters the terms (``cluster_terms``): k-means on L2-normalised embeddings, k chosen by the cosine
  silhouette, each cluster named by its most central terms. K-means rather than agglomerative clustering:
  on unit vectors the squared Euclidean distance is 2 - 2·cos, so k-means minimises cosine dissimilarity
  to a centroid, and the centroid is what names a cluster and what is compared with the taxonomy; it also
  needs no n × n distance matrix and is deterministic for a seed.
- Compares the clusters (or factors: label each term by its primary factor) with ValueLex's six
  subdimension descriptions (``taxonomy_agreement``): coverage = the mean over subdimensions of the best
  cosine of any cluster centroid to it, against random partitions of the same terms with the same cluster
  sizes.
- Lays the clusters under the taxonomy for a tree figure (``taxonomy_tree``).
- Compares factors with the subdimensions (``factor_alignment``): each factor's loading-weighted term
  direction against the descriptions, with the loadings permuted across terms as the null.

Randomness comes from ``np.random.default_rng(seed)`` (and ``seed`` as k-means' ``random_state``); results
are deterministic for a given seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from valuescope import stats

__all__ = [
    "VALUELEX_TAXONOMY",
    "ClusterResult",
    "cluster_centroids",
    "cluster_terms",
    "factor_alignment",
    "taxonomy_agreement",
    "taxonomy_tree",
]

VALUELEX_TAXONOMY: dict[str, tuple[str, ...]] = {
    "Competence": ("self_competent", "user_oriented"),
    "Character": ("social", "idealistic"),
    "Integrity": ("professional", "ethical"),
}
"""ValueLex's (Biedma et al. 2024) three value dimensions and their two subdimensions each."""

_N_NAME_TERMS = 3
_N_INIT = 10
_NORM_TOL = 1e-12
_TIE_TOL = 1e-12

# ----------------------------------------------------------------------------------------------------------
# helpers


def _unit_rows(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` as a finite 2-D float64 array with rows scaled to unit length; ValueError naming ``name``."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, dims), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} has {int((~np.isfinite(arr)).sum())} NaN or infinite entries; drop them first"
        )
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms < _NORM_TOL).any():
        raise ValueError(f"{name} has {int((norms < _NORM_TOL).sum())} all-zero rows; they have no direction")
    return arr / norms


def _unit_or_zero(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    return np.divide(a, norms, out=np.zeros_like(a), where=norms > _NORM_TOL)


def _codes(labels: np.ndarray | Sequence[Any], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels as integer codes 0..k-1 and the sorted unique labels."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n_rows:
        raise ValueError(f"labels must give one label per term ({n_rows}), got shape {lab.shape}")
    uniques, codes = np.unique(lab, return_inverse=True)
    return codes, uniques


def _centroids_from_codes(unit: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, unit.shape[1]))
    np.add.at(sums, codes, unit)
    return _unit_or_zero(sums)


def cluster_centroids(embeddings: np.ndarray, labels: np.ndarray | Sequence[Any]) -> np.ndarray:
    """(k, d) unit mean direction of each cluster's unit-normalised embeddings, in sorted label order."""
    unit = _unit_rows(embeddings, "embeddings")
    codes, uniques = _codes(labels, len(unit))
    return _centroids_from_codes(unit, codes, len(uniques))


# ----------------------------------------------------------------------------------------------------------
# clustering


@dataclasses.dataclass(frozen=True)
class ClusterResult:
    """Term clusters: ``labels`` (0..k-1 per term), unit ``centroids`` (k, d), the unit ``embeddings``,
    ``silhouette`` (mean cosine silhouette per candidate k; the chosen k alone when k was given) and
    ``names``: each cluster's ``_N_NAME_TERMS`` terms closest to its centroid, joined by " / "."""

    terms: tuple[str, ...]
    labels: np.ndarray
    k: int
    centroids: np.ndarray
    embeddings: np.ndarray
    silhouette: pd.DataFrame
    names: tuple[str, ...]

    def members(self, cluster: int) -> list[str]:
        """The cluster's terms, most central (highest cosine to the centroid) first."""
        if not 0 <= cluster < self.k:
            raise ValueError(f"cluster {cluster} is out of range for k={self.k}")
        idx = np.flatnonzero(self.labels == cluster)
        cos = self.embeddings[idx] @ self.centroids[cluster]
        return [self.terms[i] for i in idx[np.argsort(-cos, kind="stable")]]


def _kmeans(unit: np.ndarray, k: int, seed: int) -> np.ndarray:
    model = KMeans(n_clusters=k, n_init=_N_INIT, random_state=seed)
    return np.asarray(model.fit_predict(unit), dtype=int)


def cluster_terms(
    embeddings: np.ndarray,
    terms: Sequence[str],
    *,
    k: int | None = None,
    k_range: Sequence[int] = range(2, 13),
    seed: int = 0,
) -> ClusterResult:
    """K-means clusters of the L2-normalised term embeddings.

    ``k=None`` picks the k in ``k_range`` (values above n_terms - 1 are skipped) with the highest mean
    cosine silhouette, the smallest k on a tie. Labels are renumbered by cluster size, largest first.
    """
    unit = _unit_rows(embeddings, "embeddings")
    n = len(unit)
    if isinstance(terms, str) or len(terms) != n:
        raise ValueError(f"terms must name each of the {n} embedding rows, got {len(terms)} names")
    if k is not None:
        if int(k) != k or not 2 <= k <= n - 1:
            raise ValueError(f"k must be an integer in [2, {n - 1}] for {n} terms, got {k}")
        candidates = [int(k)]
    else:
        candidates = sorted({int(c) for c in k_range if 2 <= c <= n - 1})
        if not candidates:
            raise ValueError(
                f"no k in k_range={list(k_range)} fits {n} terms; silhouettes need 2 <= k <= n_terms - 1"
            )
    fits: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    for c in candidates:
        labels = _kmeans(unit, c, seed)
        fits[c] = labels
        n_found = len(np.unique(labels))
        scores[c] = float(silhouette_score(unit, labels, metric="cosine")) if n_found > 1 else float("nan")
    finite = {c: s for c, s in scores.items() if np.isfinite(s)}
    if not finite:
        raise ValueError("k-means found a single cluster for every k; the embeddings are (nearly) identical")
    best_score = max(finite.values())
    chosen = min(c for c, s in finite.items() if s >= best_score - _TIE_TOL)

    raw = fits[chosen]
    sizes = np.bincount(raw, minlength=chosen)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(chosen, dtype=int)
    relabel[order] = np.arange(chosen)
    labels = relabel[raw]
    centroids = _centroids_from_codes(unit, labels, chosen)
    result = ClusterResult(
        terms=tuple(str(t) for t in terms),
        labels=labels,
        k=chosen,
        centroids=centroids,
        embeddings=unit,
        silhouette=pd.DataFrame(
            {"silhouette": [scores[c] for c in candidates]}, index=pd.Index(candidates, name="k")
        ),
        names=(),
    )
    names = tuple(" / ".join(result.members(c)[:_N_NAME_TERMS]) for c in range(chosen))
    return dataclasses.replace(result, names=names)


# ----------------------------------------------------------------------------------------------------------
# agreement with the taxonomy


def _coverage(centroids: np.ndarray, descriptions: np.ndarray) -> float:
    return float((descriptions @ centroids.T).max(axis=1).mean())


def _subdimension_names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [f"subdimension_{i}" for i in range(n)]
    if isinstance(names, str) or len(names) != n:
        raise ValueError(f"subdimension_names must name each of the {n} descriptions, got {names!r}")
    return [str(x) for x in names]


def _check_against(
    unit: np.ndarray, desc: np.ndarray, n_perm: int, subdimension_names: Sequence[str] | None
) -> list[str]:
    """Check terms and descriptions share a space and n_perm is valid; the subdimension names."""
    if desc.shape[1] != unit.shape[1]:
        raise ValueError(
            f"descriptions have {desc.shape[1]} dims but term_embeddings have {unit.shape[1]}; "
            "embed both with the same model"
        )
    if int(n_perm) != n_perm or n_perm < 1:
        raise ValueError(f"n_perm must be an integer >= 1, got {n_perm}")
    return _subdimension_names(subdimension_names, len(desc))


def _centre(unit: np.ndarray, descriptions: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unit terms and descriptions, both minus the terms' mean embedding when ``center`` (descriptions
    renormalised; the terms are only summed into centroids, which are normalised there)."""
    if not center:
        return unit, descriptions
    mean = unit.mean(axis=0)
    return unit - mean, _unit_or_zero(descriptions - mean)


def _null_p(observed: float, null: np.ndarray) -> float | None:
    """Plus-one share of null draws >= ``observed`` (ties against it); None when the null has no spread."""
    if float(np.ptp(null)) <= 1e-12 * max(1.0, float(np.abs(null).max())):
        return None
    return stats.tie_p(float(observed), null, alternative="greater")


def taxonomy_agreement(
    term_embeddings: np.ndarray,
    labels: np.ndarray | Sequence[Any],
    descriptions: np.ndarray,
    *,
    subdimension_names: Sequence[str] | None = None,
    center: bool = True,
    n_perm: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How well the found clusters (or factors) cover the taxonomy's subdimensions.

    Each cluster's centroid is the unit mean of its terms' unit embeddings; ``descriptions`` (one row per
    subdimension, e.g. ValueLex's six, embedded with the same model) are unit-normalised. The estimate is
    coverage: the mean over subdimensions of the highest cosine of any centroid to it. The null reassigns
    the terms to clusters at random, keeping the cluster sizes (``n_perm`` times); ``p`` is the plus-one
    share of null coverages >= the observed. With ``center`` (default) the terms' mean embedding is
    subtracted from terms and descriptions first: sentence embeddings share a common direction, to which
    every random partition's centroid collapses, and centring keeps that shared direction from scoring as
    agreement.

    Returns ``estimate``, ``null_median``, ``null_low`` / ``null_high`` (the null's 2.5% and 97.5%
    quantiles, widened to contain the median), ``null_sd``, ``p`` (None when the null has no spread),
    ``n_perm``, ``k``, ``n`` terms, ``per_subdimension`` (by subdimension: best cluster, its cosine, and
    that best cosine under the random partitions: null_median, null_high = 97.5% quantile, plus-one p) and
    ``per_cluster`` (best subdimension and its cosine, by cluster label). p-values count ties against the
    observed value.
    """
    unit = _unit_rows(term_embeddings, "term_embeddings")
    desc = _unit_rows(descriptions, "descriptions")
    names = _check_against(unit, desc, n_perm, subdimension_names)
    codes, uniques = _codes(labels, len(unit))
    k = len(uniques)
    if k < 2:
        raise ValueError("labels hold a single cluster; agreement needs at least 2")
    terms_c, desc_c = _centre(unit, desc, center)

    centroids = _centroids_from_codes(terms_c, codes, k)
    cos = desc_c @ centroids.T  # (subdimensions, clusters)
    observed = float(cos.max(axis=1).mean())
    rng = np.random.default_rng(seed)
    null_best = np.stack(
        [
            (desc_c @ _centroids_from_codes(terms_c, rng.permutation(codes), k).T).max(axis=1)
            for _ in range(int(n_perm))
        ]
    )  # (n_perm, subdimensions): each subdimension's best cosine under random partitions
    null = null_best.mean(axis=1)
    spread = stats.summarize_null(null)
    best_cos = cos.max(axis=1)
    sub_p = [_null_p(c, column) for c, column in zip(best_cos, null_best.T, strict=True)]
    best_cluster = cos.argmax(axis=1)
    best_sub = cos.argmax(axis=0)
    return {
        "estimate": observed,
        "null_median": spread.median,
        "null_low": spread.low,
        "null_high": spread.high,
        "null_sd": spread.sd,
        "p": _null_p(observed, null),
        "n_perm": int(n_perm),
        "k": int(k),
        "n": len(unit),
        "per_subdimension": pd.DataFrame(
            {
                "best_cluster": uniques[best_cluster],
                "cosine": best_cos,
                "null_median": np.median(null_best, axis=0),
                "null_high": [stats.summarize_null(c).high for c in null_best.T],
                "p": sub_p,
            },
            index=pd.Index(names, name="subdimension"),
        ),
        "per_cluster": pd.DataFrame(
            {"best_subdimension": [names[j] for j in best_sub], "cosine": cos.max(axis=0)},
            index=pd.Index(uniques, name="cluster"),
        ),
    }


def taxonomy_tree(
    result: ClusterResult,
    descriptions: np.ndarray,
    subdimension_names: Sequence[str],
    *,
    taxonomy: Mapping[str, Sequence[str]] = VALUELEX_TAXONOMY,
    center: bool = True,
) -> pd.DataFrame:
    """One row per cluster: its name and size, nearest subdimension (cosine of centroid to description,
    centred as in ``taxonomy_agreement``) and that subdimension's dimension, sorted for a tree figure."""
    desc = _unit_rows(descriptions, "descriptions")
    if desc.shape[1] != result.embeddings.shape[1]:
        raise ValueError(
            f"descriptions have {desc.shape[1]} dims but the clustered embeddings have "
            f"{result.embeddings.shape[1]}; embed both with the same model"
        )
    names = _subdimension_names(subdimension_names, len(desc))
    dimension_of = {sub: dim for dim, subs in taxonomy.items() for sub in subs}
    unknown = [s for s in names if s not in dimension_of]
    if unknown:
        raise ValueError(f"subdimensions {unknown} are not in the taxonomy {dict(taxonomy)}")
    terms_c, desc_c = _centre(result.embeddings, desc, center)
    cos = _centroids_from_codes(terms_c, result.labels, result.k) @ desc_c.T  # (clusters, subdimensions)
    nearest = cos.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "cluster": np.arange(result.k),
            "name": list(result.names),
            "n_terms": np.bincount(result.labels, minlength=result.k),
            "subdimension": [names[j] for j in nearest],
            "dimension": [dimension_of[names[j]] for j in nearest],
            "cosine": cos.max(axis=1),
        }
    )
    dim_order = {d: i for i, d in enumerate(taxonomy)}
    sub_order = {s: i for i, s in enumerate(dimension_of)}
    key = frame["dimension"].map(dim_order) * 1000 + frame["subdimension"].map(sub_order)
    return (
        frame.assign(_key=key).sort_values(["_key", "cosine"], ascending=[True, False]).drop(columns="_key")
    )


def coverage_interval(
    term_embeddings: np.ndarray,
    labels: np.ndarray | Sequence[Any],
    descriptions: np.ndarray,
    *,
    center: bool = True,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(coverage, ci_low, ci_high): ``taxonomy_agreement``'s estimate with a percentile bootstrap over
    terms (each resample keeps the terms' cluster labels and recomputes the centroids)."""
    unit = _unit_rows(np.asarray(term_embeddings, dtype=np.float64), "term_embeddings")
    codes, names = _codes(labels, len(unit))
    k = len(names)
    desc = _unit_rows(np.asarray(descriptions, dtype=np.float64), "descriptions")

    def stat(idx: np.ndarray) -> float:
        u, d = _centre(unit[idx], desc, center)
        present = np.unique(codes[idx])
        cents = _centroids_from_codes(u, codes[idx], k)[present]
        return _coverage(cents, d)

    return stats.bootstrap(stat, len(unit), n_boot=n_boot, level=level, seed=seed)


def factor_alignment(
    loadings: pd.DataFrame,
    term_embeddings: np.ndarray,
    descriptions: np.ndarray,
    *,
    subdimension_names: Sequence[str] | None = None,
    center_on: np.ndarray | None = None,
    n_perm: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """How close each factor comes to each taxonomy subdimension.

    A factor's direction is the sum of its terms' unit embeddings weighted by their positive loadings
    (``loadings``: terms x factors, rows in the order of ``term_embeddings``), normalised; its cosine to
    each description is compared with the same cosine after permuting the loadings across terms
    (``n_perm`` times; plus-one p of null >= observed). Terms and descriptions are centred on the mean of
    ``center_on`` (default: the terms), as in :func:`taxonomy_agreement`.

    Columns: factor, subdimension, cosine, null_median, null_high (97.5% quantile), p (None when the null
    has no spread), best (the factor's highest-cosine subdimension).
    """
    unit = _unit_rows(term_embeddings, "term_embeddings")
    desc = _unit_rows(descriptions, "descriptions")
    weights = np.clip(np.asarray(loadings, dtype=np.float64), 0, None)
    if weights.ndim != 2 or weights.shape[0] != len(unit):
        raise ValueError(
            f"loadings have shape {weights.shape}; they need one row per term ({len(unit)} terms) and a "
            "column per factor"
        )
    names = _check_against(unit, desc, n_perm, subdimension_names)
    mean = (unit if center_on is None else _unit_rows(center_on, "center_on")).mean(axis=0)
    terms_c, desc_c = unit - mean, _unit_or_zero(desc - mean)

    def cosines(w: np.ndarray) -> np.ndarray:  # (factors, subdimensions)
        return _unit_or_zero(w.T @ terms_c) @ desc_c.T

    observed = cosines(weights)
    rng = np.random.default_rng(seed)
    null = np.stack([cosines(weights[rng.permutation(len(unit))]) for _ in range(int(n_perm))])
    factors = [str(c) for c in getattr(loadings, "columns", range(weights.shape[1]))]
    rows = []
    for j, f in enumerate(factors):
        for s in range(len(names)):
            spread = stats.summarize_null(null[:, j, s])
            p = _null_p(observed[j, s], null[:, j, s])
            rows.append((f, names[s], observed[j, s], spread.median, spread.high, p))
    table = pd.DataFrame(rows, columns=["factor", "subdimension", "cosine", "null_median", "null_high", "p"])
    best = table.loc[table.groupby("factor", sort=False)["cosine"].idxmax(), ["factor", "subdimension"]]
    return table.assign(
        best=table["factor"].map(dict(zip(best["factor"], best["subdimension"], strict=True)))
    )
