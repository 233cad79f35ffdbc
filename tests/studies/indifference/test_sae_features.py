"""valuescope.studies.indifference.sae_features: activations, selectivity and monosemanticity of features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from example_saes import random_sae

from valuescope.stats import auroc
from valuescope.studies.indifference.sae_features import (
    feature_activations,
    feature_selectivity,
    monosemanticity,
    select_moral_features,
    top_items,
)


def test_feature_activations_match_encode_in_chunks() -> None:
    sae = random_sae("topk")
    x = torch.randn(33, 6)
    acts = feature_activations(sae, x, batch_size=10)
    assert acts.dtype == np.float32 and acts.shape == (33, 10)
    np.testing.assert_allclose(acts, sae.encode(x).numpy())
    np.testing.assert_allclose(feature_activations(sae, x.numpy()), acts)


def test_feature_selectivity_matches_stats_auroc_with_ties() -> None:
    rng = np.random.default_rng(0)
    acts = np.maximum(rng.normal(size=(120, 7)), 0).round(1)  # many ties at 0 and on the grid
    labels = rng.choice(["care", "fairness", "neutral"], size=120)
    table = feature_selectivity(acts, labels)
    assert list(table.columns[:3]) == ["feature", "class", "auroc"]
    assert len(table) == 7 * 3
    for row in table.itertuples():
        inside = labels == row[2]
        assert row.auroc == pytest.approx(auroc(acts[:, row.feature], inside), abs=1e-12)
        assert row.mean_in == pytest.approx(acts[inside, row.feature].mean())
        assert row.mean_out == pytest.approx(acts[~inside, row.feature].mean())
        assert row.freq == pytest.approx((acts[:, row.feature] > 0).mean())


def _planted_classes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """acts (300, 20): feature 3 fires only on 'care' items, feature 7 only on 'fairness', the rest noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["care", "fairness", "liberty", "neutral"], 75)
    acts = np.where(rng.random((300, 20)) < 0.2, rng.exponential(1.0, (300, 20)), 0.0)
    acts[:, 3] = np.where(labels == "care", rng.uniform(1, 2, 300), 0.0)
    acts[:, 7] = np.where(labels == "fairness", rng.uniform(1, 2, 300), 0.0)
    return acts, labels


def test_a_feature_firing_only_for_one_class_is_found() -> None:
    acts, labels = _planted_classes()
    table = feature_selectivity(acts, labels, classes=["care", "fairness", "liberty"])
    care3 = table[(table.feature == 3) & (table["class"] == "care")].iloc[0]
    assert care3.auroc == pytest.approx(1.0) and care3.freq_in == 1.0 and care3.mean_out == 0.0
    chosen = select_moral_features(table, min_auroc=0.9)
    assert chosen[["feature", "class"]].values.tolist() == [[3, "care"], [7, "fairness"]]
    mono = monosemanticity(table).set_index("feature")
    assert mono.loc[3, "best_class"] == "care" and mono.loc[3, "mass_share"] == pytest.approx(1.0)
    assert mono.loc[3, "base_share"] == pytest.approx(0.25)
    assert mono.loc[3, "auroc_margin"] > mono.drop(index=[3, 7])["auroc_margin"].max()


def test_monosemanticity_on_a_hand_computed_table() -> None:
    # feature 0: all mass on class a; feature 1: equal on a and b; feature 2 never fires
    acts = np.array([[1.0, 1.0, 0], [1.0, 1.0, 0], [0.0, 1.0, 0], [0.0, 1.0, 0]])
    labels = ["a", "a", "b", "b"]
    mono = monosemanticity(feature_selectivity(acts, labels)).set_index("feature")
    assert mono.loc[0, "best_auroc"] == 1.0 and mono.loc[0, "second_auroc"] == 0.0
    assert mono.loc[0, "auroc_margin"] == 0.5 and mono.loc[0, "mass_share"] == 1.0
    assert mono.loc[1, "auroc_margin"] == 0.0 and mono.loc[1, "mass_share"] == 0.5
    assert np.isnan(mono.loc[2, "mass_share"]) and mono.loc[2, "auroc_margin"] == 0.0


def test_select_moral_features_caps_and_filters() -> None:
    acts, labels = _planted_classes()
    table = feature_selectivity(acts, labels)
    assert len(select_moral_features(table, min_auroc=0.5, max_per_class=2)) <= 2 * 4
    table.loc[table.feature == 3, "freq"] = 0.001
    assert 3 not in select_moral_features(table, min_auroc=0.9, min_freq=0.01)["feature"].tolist()
    shared = pd.DataFrame(
        {"feature": [0, 0], "class": ["a", "b"], "auroc": [0.95, 0.9], "mean_in": [1, 1], "mean_out": [0, 0]}
    ).assign(freq=0.5)
    assert select_moral_features(shared)["class"].tolist() == ["a"]
    assert select_moral_features(shared, exclusive=False)["class"].tolist() == ["a", "b"]


def test_feature_selectivity_errors() -> None:
    acts, labels = _planted_classes()
    with pytest.raises(ValueError, match="'virtue' has no items"):
        feature_selectivity(acts, labels, classes=["care", "virtue"])
    with pytest.raises(ValueError, match="one class per item"):
        feature_selectivity(acts, labels[:10])
    with pytest.raises(ValueError, match="every item"):
        feature_selectivity(acts, ["care"] * 300)


def test_top_items_ranks_active_items() -> None:
    acts = np.array([[0.0, 1.0], [3.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    texts = ["w", "x", "y", "z"]
    assert top_items(acts, texts, 0, k=5) == [("x", 3.0), ("y", 2.0)]
    assert top_items(acts, texts, 1, k=1) == [("w", 1.0)]
    with pytest.raises(ValueError, match="feature"):
        top_items(acts, texts, 2)
