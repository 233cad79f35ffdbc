"""valuescope.studies.indifference.geometry_diagnostics: the five metrics, shuffled null, layer curves."""

from __future__ import annotations

import numpy as np
import pytest
from planted_geometry import (
    N_CELL_LEMMAS,
    N_NEUTRAL_LEMMAS,
    PER_LEMMA,
    QUICK,
    collapsed,
    geometry,
    planted_items,
)

from valuescope import stats
from valuescope.studies.indifference import geometry_diagnostics, item_labels, jackknife
from valuescope.studies.indifference.diagnostic_settings import FAST_SETTINGS, METRICS
from valuescope.studies.indifference.geometry_diagnostics import diagnostics, layer_curves, shuffled_null
from valuescope.studies.indifference.item_labels import read_labels
from valuescope.studies.indifference.jackknife import jackknife_diagnostics


def test_valence_dominated_geometry_scores_near_ideal() -> None:
    items = planted_items()
    x, _ = geometry(items, valence=1.0, foundation=0.3)
    out = diagnostics(x, items)
    assert set(out) == set(METRICS)
    assert out["ari_valence"] > 0.95
    assert out["typicality_spearman"] > 0.9
    assert out["probe_r2"] > 0.9
    assert out["virtue_vice_cosine"] < -0.5


def test_collapsed_geometry_scores_chance() -> None:
    items = planted_items()
    x = collapsed(items)
    out = diagnostics(x, items)
    n_cell, n_neutral = N_CELL_LEMMAS * PER_LEMMA, N_NEUTRAL_LEMMAS * PER_LEMMA
    bias = (1 / n_neutral) / (1 / n_cell + 1 / n_neutral)  # both prototypes subtract one noisy neutral mean
    assert out["virtue_vice_cosine"] == pytest.approx(bias, abs=0.15)
    assert abs(out["typicality_spearman"]) < 0.2
    assert abs(out["ari_valence"]) < 0.05
    assert abs(out["ari_foundation"]) < 0.05
    assert -0.05 < out["probe_r2"] < 0.02  # the penalty grid reaches far enough to shrink to the mean


def test_shuffled_null_of_separated_geometry_is_near_chance() -> None:
    items = planted_items()
    x, _ = geometry(items)
    null = shuffled_null(x, items, n_perm=3, settings=QUICK)
    assert abs(null["virtue_vice_cosine"]) < 0.4
    assert abs(null["typicality_spearman"]) < 0.2
    assert abs(null["ari_valence"]) < 0.05
    assert abs(null["ari_foundation"]) < 0.05
    assert null["probe_r2"] < 0.05
    assert shuffled_null(x, items, n_perm=3, settings=QUICK) == null


def test_shuffle_moves_whole_lemmas_with_all_their_labels() -> None:
    items = planted_items()
    _, lemma = read_labels(items, len(items))
    source = geometry_diagnostics._lemma_shuffle(lemma, np.random.default_rng(0))
    assert sorted(source.tolist()) == list(range(len(items)))  # equal lemma sizes: a permutation of rows
    src_lemma = lemma[source]
    for g in np.unique(lemma):
        assert len(np.unique(src_lemma[lemma == g])) == 1
    moved = items.iloc[source].reset_index(drop=True)
    assert (moved.groupby(items.lemma).kind.nunique() == 1).all()
    uneven = np.array([0, 0, 0, 1, 2, 2])
    src = geometry_diagnostics._lemma_shuffle(uneven, np.random.default_rng(1))
    for g in range(3):
        assert len(np.unique(uneven[src[uneven == g]])) == 1


def test_folds_never_split_a_lemma(monkeypatch: pytest.MonkeyPatch) -> None:
    items = planted_items()
    x, _ = geometry(items)
    seen: list[tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = []
    real = stats.grouped_folds

    def spy(groups: np.ndarray, k: int, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
        folds = real(groups, k, seed=seed)
        seen.append((np.asarray(groups), folds))
        return folds

    monkeypatch.setattr(item_labels, "grouped_folds", spy)
    monkeypatch.setattr(jackknife, "grouped_folds", spy)
    diagnostics(x, items, settings=QUICK)
    jackknife_diagnostics(x, items, n_blocks=4, settings=FAST_SETTINGS)
    assert {len(folds) for _, folds in seen} == {2, 3, 4, 5}
    for groups, folds in seen:
        for train, test in folds:
            assert not set(groups[train].tolist()) & set(groups[test].tolist())


def test_layer_curves_rows_equal_diagnostics_and_null_per_layer() -> None:
    items = planted_items()
    separated, _ = geometry(items)
    reads = np.stack([collapsed(items), separated], axis=1).astype(np.float32)
    rows = (items.foundation != "sanctity").to_numpy()
    curves = layer_curves(reads, [3, 7], items, rows, n_perm=2, settings=QUICK)
    assert list(curves.columns) == ["layer", *METRICS, *(f"{m}_null" for m in METRICS)]
    assert curves.layer.tolist() == [3, 7]
    for j in range(2):
        x = reads[:, j].astype(float)
        real = diagnostics(x, items, rows, settings=QUICK)
        null = shuffled_null(x, items, rows, n_perm=2, settings=QUICK)
        for m in METRICS:
            assert curves.loc[j, m] == pytest.approx(real[m], abs=1e-9)
            assert curves.loc[j, f"{m}_null"] == pytest.approx(null[m], abs=1e-9)
    assert curves.loc[1, "ari_valence"] > 0.95 > curves.loc[0, "ari_valence"]
    assert curves.loc[1, "probe_r2"] > curves.loc[1, "probe_r2_null"] + 0.5
    bare = layer_curves(reads, [3, 7], items, rows, n_perm=0, settings=QUICK)
    assert bare[[f"{m}_null" for m in METRICS]].isna().all().all()
    with pytest.raises(ValueError, match="layers names 3 read points but reads has 2"):
        layer_curves(reads, [1, 2, 3], items)
    with pytest.raises(ValueError, match="reads must be 3-D"):
        layer_curves(separated, [0], items)
