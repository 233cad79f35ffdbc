"""valuescope.studies.lexicon.clusters on planted clusters, planted taxonomies and random embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuescope.studies.lexicon.clusters import (
    VALUELEX_TAXONOMY,
    ClusterResult,
    cluster_centroids,
    cluster_terms,
    factor_alignment,
    taxonomy_agreement,
    taxonomy_tree,
)

DIM = 64
SUBDIMENSIONS = [sub for subs in VALUELEX_TAXONOMY.values() for sub in subs]


def _orthonormal(rng: np.random.Generator, k: int, d: int = DIM) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((d, k)))[0].T


def _planted_clusters(
    centres: np.ndarray, per_cluster: int, spread: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Unit vectors around each centre; term ``c{j}_0`` sits (almost) on centre j, the rest spread out."""
    rows, terms, labels = [], [], []
    for j, centre in enumerate(centres):
        for i in range(per_cluster):
            noise = (0.02 if i == 0 else spread) * rng.standard_normal(centres.shape[1])
            rows.append(centre + noise / np.sqrt(centres.shape[1]))
            terms.append(f"c{j}_{i}")
            labels.append(j)
    emb = np.array(rows)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True), terms, np.array(labels)


@pytest.fixture(scope="module")
def three_clusters() -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    return _planted_clusters(_orthonormal(rng, 3), 20, 0.3, rng)


@pytest.fixture(scope="module")
def three_result(three_clusters) -> ClusterResult:
    emb, terms, _ = three_clusters
    return cluster_terms(emb, terms)


@pytest.fixture(scope="module")
def descriptions() -> np.ndarray:
    return _orthonormal(np.random.default_rng(1), 6)


# ------------------------------------------------------------------------------------------ clustering


def test_silhouette_picks_the_three_planted_clusters(three_clusters, three_result: ClusterResult) -> None:
    _, _, planted = three_clusters
    result = three_result
    assert result.k == 3
    assert list(result.silhouette.index) == list(range(2, 13))
    assert result.silhouette["silhouette"].idxmax() == 3
    # the found partition is the planted one, up to renumbering
    assert pd.crosstab(result.labels, planted).to_numpy().max(axis=1).tolist() == [20, 20, 20]


def test_clusters_are_named_by_their_central_planted_terms(three_result: ClusterResult) -> None:
    result = three_result
    leaders = sorted(name.split(" / ")[0] for name in result.names)
    assert leaders == ["c0_0", "c1_0", "c2_0"]
    assert all(len(name.split(" / ")) == 3 for name in result.names)
    for c in range(result.k):
        assert result.names[c].split(" / ") == result.members(c)[:3]


def test_cluster_terms_with_given_k_and_scaled_embeddings(three_clusters) -> None:
    emb, terms, _ = three_clusters
    scales = np.random.default_rng(2).uniform(0.5, 5.0, (len(emb), 1))
    a = cluster_terms(emb, terms, k=3)
    b = cluster_terms(emb * scales, terms, k=3)  # L2-normalised first: the scale of a row does not matter
    np.testing.assert_array_equal(a.labels, b.labels)
    assert list(a.silhouette.index) == [3]
    np.testing.assert_allclose(np.linalg.norm(a.centroids, axis=1), 1.0)


def test_cluster_labels_are_numbered_by_size() -> None:
    rng = np.random.default_rng(3)
    centres = _orthonormal(rng, 3)
    parts = [_planted_clusters(centres[[j]], n, 0.2, rng)[0] for j, n in enumerate((5, 15, 10))]
    emb = np.vstack(parts)
    result = cluster_terms(emb, [str(i) for i in range(len(emb))], k=3)
    assert np.bincount(result.labels).tolist() == [15, 10, 5]


def test_cluster_terms_rejects_bad_input(three_clusters) -> None:
    emb, terms, _ = three_clusters
    with pytest.raises(ValueError, match="terms must name"):
        cluster_terms(emb, terms[:-1])
    with pytest.raises(ValueError, match="k must be"):
        cluster_terms(emb, terms, k=1)
    with pytest.raises(ValueError, match="no k in k_range"):
        cluster_terms(emb[:3], terms[:3], k_range=range(5, 8))
    zero = emb.copy()
    zero[0] = 0.0
    with pytest.raises(ValueError, match="all-zero"):
        cluster_terms(zero, terms)


def test_cluster_centroids_are_unit_means_in_label_order() -> None:
    emb = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 3.0]])
    np.testing.assert_allclose(cluster_centroids(emb, ["b", "a", "a"]), [[0.0, 1.0], [1.0, 0.0]])


# --------------------------------------------------------------------------------- taxonomy agreement


def test_clusters_on_the_descriptions_agree_with_p_small(descriptions: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    emb, _, labels = _planted_clusters(descriptions, 15, 0.5, rng)
    out = taxonomy_agreement(emb, labels, descriptions, subdimension_names=SUBDIMENSIONS, n_perm=500)
    assert out["estimate"] > 0.9
    assert out["p"] < 0.01
    assert out["p"] == pytest.approx(1 / 501)
    assert out["null_low"] <= out["null_median"] <= out["null_high"] < out["estimate"]
    table = out["per_subdimension"]
    assert list(table.index) == SUBDIMENSIONS
    assert table["best_cluster"].tolist() == list(range(6))
    assert (table["p"] < 0.01).all() and (table["cosine"] > table["null_high"]).all()
    assert out["per_cluster"]["best_subdimension"].tolist() == SUBDIMENSIONS


def test_random_embeddings_do_not_agree(descriptions: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    emb = rng.standard_normal((90, DIM))
    labels = cluster_terms(emb, [str(i) for i in range(90)], k=6).labels
    out = taxonomy_agreement(emb, labels, descriptions, n_perm=500)
    assert out["p"] > 0.1


def test_agreement_null_is_calibrated_on_anisotropic_random_embeddings() -> None:
    # sentence embeddings share a common direction; centring keeps it from looking like agreement
    # (or, uncentred, from swamping it): p is roughly uniform when nothing is planted
    ps = []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        common = rng.standard_normal(DIM)
        common *= 3 / np.linalg.norm(common)
        emb = common + 2 * rng.standard_normal((60, DIM)) / np.sqrt(DIM)
        desc = common + 2 * rng.standard_normal((6, DIM)) / np.sqrt(DIM)
        labels = cluster_terms(emb, [str(i) for i in range(60)], k=5, seed=seed).labels
        ps.append(taxonomy_agreement(emb, labels, desc, n_perm=99, seed=seed)["p"])
    assert 0.3 < float(np.mean(ps)) < 0.7
    assert float(np.mean(np.array(ps) < 0.05)) <= 0.15


def test_agreement_is_deterministic_and_rejects_bad_input(descriptions: np.ndarray) -> None:
    rng = np.random.default_rng(6)
    emb, _, labels = _planted_clusters(descriptions, 5, 0.5, rng)
    a = taxonomy_agreement(emb, labels, descriptions, n_perm=50, seed=1)
    b = taxonomy_agreement(emb, labels, descriptions, n_perm=50, seed=1)
    assert a["p"] == b["p"] and a["null_median"] == b["null_median"]
    with pytest.raises(ValueError, match="same model"):
        taxonomy_agreement(emb, labels, descriptions[:, :10])
    with pytest.raises(ValueError, match="single cluster"):
        taxonomy_agreement(emb, np.zeros(len(emb)), descriptions)
    with pytest.raises(ValueError, match="one label per term"):
        taxonomy_agreement(emb, labels[:-1], descriptions)
    with pytest.raises(ValueError, match="subdimension_names"):
        taxonomy_agreement(emb, labels, descriptions, subdimension_names=SUBDIMENSIONS[:5])


# ------------------------------------------------------------------------------------------------ tree


def test_taxonomy_tree_puts_each_cluster_under_its_subdimension(descriptions: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    emb, terms, _ = _planted_clusters(descriptions, 10, 0.4, rng)
    result = cluster_terms(emb, terms, k=6)
    tree = taxonomy_tree(result, descriptions, SUBDIMENSIONS)
    assert list(tree.columns) == ["cluster", "name", "n_terms", "subdimension", "dimension", "cosine"]
    assert tree["subdimension"].tolist() == SUBDIMENSIONS
    assert tree["dimension"].tolist() == ["Competence"] * 2 + ["Character"] * 2 + ["Integrity"] * 2
    for _, row in tree.iterrows():  # the cluster under subdimension j is the one planted on description j
        j = SUBDIMENSIONS.index(row["subdimension"])
        assert row["name"].split(" / ")[0] == f"c{j}_0"


def test_taxonomy_tree_rejects_names_outside_the_taxonomy(descriptions: np.ndarray) -> None:
    rng = np.random.default_rng(8)
    emb, terms, _ = _planted_clusters(descriptions, 5, 0.4, rng)
    result: ClusterResult = cluster_terms(emb, terms, k=6)
    with pytest.raises(ValueError, match="not in the taxonomy"):
        taxonomy_tree(result, descriptions, [*SUBDIMENSIONS[:5], "curiosity"])


# ----------------------------------------------------------------------------------- factor alignment


def test_a_factor_loading_on_one_subdimension_terms_points_at_it(descriptions: np.ndarray) -> None:
    """Terms planted around ethical (rows 0-9) and social (rows 10-19); F1 loads on the first group, F2 on
    the second: each factor is closest to its own subdimension, beyond shuffled loadings."""
    rng = np.random.default_rng(5)
    emb, terms, labels = _planted_clusters(descriptions[[5, 2]], 10, 0.5, rng)
    loadings = pd.DataFrame(
        {"F1": np.where(labels == 0, 0.7, 0.05), "F2": np.where(labels == 1, 0.6, -0.1)}, index=terms
    )
    table = factor_alignment(loadings, emb, descriptions, subdimension_names=SUBDIMENSIONS, n_perm=300)
    best = table.groupby("factor")["best"].first().to_dict()
    assert best == {"F1": "ethical", "F2": "social"}
    top = table.loc[table["subdimension"] == table["best"]]
    assert (top["p"] < 0.05).all() and (top["cosine"] > top["null_high"]).all()


def test_uniform_loadings_are_not_beyond_their_permutations(descriptions: np.ndarray) -> None:
    rng = np.random.default_rng(6)
    emb = rng.standard_normal((30, DIM))
    table = factor_alignment(pd.DataFrame({"F1": np.full(30, 0.5)}), emb, descriptions, n_perm=100)
    # every permutation of equal loadings is the same factor: a null without spread gives no p at all
    assert table["p"].isna().all()
    with pytest.raises(ValueError, match="one row per term"):
        factor_alignment(pd.DataFrame({"F1": [0.5, 0.5]}), emb, descriptions)
