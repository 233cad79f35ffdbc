"""valuescope.analysis.indifference on planted geometries whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from valuescope.analysis import indifference as ind
from valuescope.analysis import stats

D = 64
SCALE, NOISE, COMMON = 3.0, 0.1, 30.0
N_CELL_LEMMAS, N_NEUTRAL_LEMMAS, PER_LEMMA = 12, 60, 2
QUICK = ind.DiagnosticSettings(n_init=4)


def _items(seed: int = 0, *, n_cell: int = N_CELL_LEMMAS, n_neutral: int = N_NEUTRAL_LEMMAS) -> pd.DataFrame:
    """n_cell lemmas per (foundation, pole) and n_neutral neutral lemmas, PER_LEMMA items each.

    A moral lemma's typicality is uniform in [0.2, 1] and is also its score in its own vector column.
    """
    rng = np.random.default_rng(seed)
    records = []

    def add(lemma: str, kind: str, foundation: str, typicality: float) -> None:
        for _ in range(PER_LEMMA):
            row = {"lemma": lemma, "kind": kind, "foundation": foundation, "typicality": typicality}
            row.update(dict.fromkeys(ind.VECTOR_COLUMNS, 0.0))
            if kind != "neutral":
                row[f"{foundation}_{kind}"] = typicality
            records.append(row)

    for f in ind.FOUNDATIONS:
        for p in ind.POLES:
            for j in range(n_cell):
                add(f"{f}-{p}-{j}", p, f, float(rng.uniform(0.2, 1.0)))
    for j in range(n_neutral):
        add(f"neutral-{j}", "neutral", "", 0.0)
    return pd.DataFrame(records)


def _directions(rng: np.random.Generator) -> dict[str, np.ndarray]:
    q, _ = np.linalg.qr(rng.standard_normal((D, 18)))
    q = q.T
    return {
        "virtue": q[0],
        "vice_mirror": -q[0],
        "vice_orth": q[1],
        "foundation": q[2:7],
        "cell": q[7:17],
        "common": COMMON * q[17],
    }


def _planted(
    items: pd.DataFrame,
    dirs: dict[str, np.ndarray],
    valence: float,
    foundation: float,
    cell: float,
    mirror: bool,
) -> np.ndarray:
    """(n, D) noise-free planted position of every item (neutral at 0, no common component)."""
    out = np.zeros((len(items), D))
    vice = dirs["vice_mirror"] if mirror else dirs["vice_orth"]
    typicality = items.typicality.to_numpy(dtype=float)
    for i, (kind, found) in enumerate(zip(items.kind, items.foundation, strict=True)):
        if kind == "neutral":
            continue
        fi, pi = ind.FOUNDATIONS.index(found), ind.POLES.index(kind)
        pole = dirs["virtue"] if kind == "virtue" else vice
        cell_dir = dirs["cell"][len(ind.POLES) * fi + pi]
        out[i] = SCALE * (
            valence * pole + foundation * dirs["foundation"][fi] + typicality[i] * cell * cell_dir
        )
    return out


def _geometry(
    items: pd.DataFrame,
    seed: int = 1,
    *,
    valence: float = 1.0,
    foundation: float = 0.3,
    cell: float = 1.0,
    mirror: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(X, planted): x = planted + common component + small noise.

    planted = SCALE * (valence * pole direction + foundation * foundation direction + typicality * cell *
    (foundation, pole) direction); the vice direction is minus the virtue one (``mirror``) or orthogonal.
    """
    rng = np.random.default_rng(seed)
    dirs = _directions(rng)
    planted = _planted(items, dirs, valence, foundation, cell, mirror)
    return planted + dirs["common"] + NOISE * rng.standard_normal(planted.shape), planted


def _collapsed(items: pd.DataFrame, seed: int = 5) -> np.ndarray:
    """Labels independent of X: Gaussian noise plus a common component."""
    return np.random.default_rng(seed).standard_normal((len(items), D)) + COMMON


def _planted_cosines(items: pd.DataFrame, planted: np.ndarray) -> np.ndarray:
    out = []
    for f in ind.FOUNDATIONS:
        v = planted[((items.foundation == f) & (items.kind == "virtue")).to_numpy()].mean(axis=0)
        c = planted[((items.foundation == f) & (items.kind == "vice")).to_numpy()].mean(axis=0)
        out.append(v @ c / np.linalg.norm(v) / np.linalg.norm(c))
    return np.array(out)


# ------------------------------------------------------------------------------------------- prototypes


def test_prototypes_are_cell_means_minus_the_neutral_mean() -> None:
    items = _items(n_cell=1, n_neutral=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(items), 3))
    neutral = x[(items.kind == "neutral").to_numpy()].mean(axis=0)
    protos = ind.prototypes(x, items)
    assert set(protos) == {(f, p) for f in ind.FOUNDATIONS for p in ind.POLES}
    care_vice = ((items.foundation == "care") & (items.kind == "vice")).to_numpy()
    np.testing.assert_allclose(protos[("care", "vice")], x[care_vice].mean(axis=0) - neutral)
    np.testing.assert_allclose(
        ind.prototypes(x, items, raw=True)[("care", "vice")], x[care_vice].mean(axis=0)
    )
    only_care = (items.foundation == "care").to_numpy() | (items.kind == "neutral").to_numpy()
    assert set(ind.prototypes(x, items, only_care)) == {("care", "virtue"), ("care", "vice")}


@pytest.mark.parametrize(
    ("valence", "foundation", "cell", "mirror", "ideal"),
    [
        (1.0, 0.0, 0.0, True, -1.0),
        (1.0, 0.0, 0.0, False, 0.0),
        (0.0, 0.0, 1.0, True, 0.0),
        (1.0, 0.3, 1.0, True, None),
    ],
)
def test_centred_virtue_vice_cosine_matches_the_planted_geometry(
    valence: float, foundation: float, cell: float, mirror: bool, ideal: float | None
) -> None:
    items = _items()
    x, planted = _geometry(items, valence=valence, foundation=foundation, cell=cell, mirror=mirror)
    frame = ind.virtue_vice_cosine(x, items)
    assert list(frame.columns) == ["foundation", "cosine", "n_virtue", "n_vice"]
    assert frame.foundation.tolist() == list(ind.FOUNDATIONS)
    assert (frame.n_virtue == N_CELL_LEMMAS * PER_LEMMA).all() and (
        frame.n_vice == N_CELL_LEMMAS * PER_LEMMA
    ).all()
    expected = _planted_cosines(items, planted)
    if ideal is not None:
        np.testing.assert_allclose(expected, ideal, atol=1e-9)
    np.testing.assert_allclose(frame.cosine, expected, atol=0.05)
    assert ind.mean_virtue_vice_cosine(x, items) == pytest.approx(expected.mean(), abs=0.05)


def test_centring_removes_the_common_component_that_makes_raw_cosines_near_one() -> None:
    items = _items()
    x, _ = _geometry(items, valence=1.0, foundation=0.0, cell=0.0, mirror=True)
    assert ind.mean_virtue_vice_cosine(x, items, raw=True) > 0.95
    assert ind.mean_virtue_vice_cosine(x, items) < -0.95


def test_mean_cosine_skips_foundations_with_too_few_items() -> None:
    items = _items()
    x, _ = _geometry(items, valence=1.0, foundation=0.0, cell=0.0, mirror=True)
    care_vice = ((items.foundation == "care") & (items.kind == "vice")).to_numpy()
    rows = ~care_vice | (np.cumsum(care_vice) <= 2)  # keep two care-vice items
    frame = ind.virtue_vice_cosine(x, items, rows)
    assert frame.set_index("foundation").loc["care", "n_vice"] == 2
    kept = frame[frame.foundation != "care"].cosine.mean()
    assert ind.mean_virtue_vice_cosine(x, items, rows, min_items=3) == pytest.approx(kept)
    assert ind.mean_virtue_vice_cosine(x, items, rows, min_items=2) == pytest.approx(frame.cosine.mean())
    assert np.isnan(ind.mean_virtue_vice_cosine(x, items, rows, min_items=100))


# ------------------------------------------------------------------------------------------- well separated


def test_valence_dominated_geometry_scores_near_ideal() -> None:
    items = _items()
    x, _ = _geometry(items, valence=1.0, foundation=0.3)
    out = ind.diagnostics(x, items)
    assert set(out) == set(ind.METRICS)
    assert out["ari_valence"] > 0.95
    assert out["typicality_spearman"] > 0.9
    assert out["probe_r2"] > 0.9
    assert out["virtue_vice_cosine"] < -0.5


def test_foundation_dominated_geometry_recovers_foundations() -> None:
    items = _items()
    x, _ = _geometry(items, valence=0.3, foundation=1.0)
    assert ind.ari_foundation(x, items) > 0.95
    assert ind.probe_r2(x, items) > 0.9
    # k-means splits on the larger separation: here that is the foundation, not the valence
    assert ind.ari_valence(x, items) < 0.3


def test_typicality_gradient_with_both_measures_and_by_foundation() -> None:
    items = _items()
    x, _ = _geometry(items)
    assert ind.crossfit_typicality_spearman(x, items) > 0.9
    # the cosine peaks where an item is parallel to its prototype (typicality near the mean) ...
    assert ind.crossfit_typicality_spearman(x, items, measure="cosine") < 0.7
    # ... and grows with typicality when items lie on a ray from the neutral mean, noise fixed
    ray, _ = _geometry(items, valence=0.0, foundation=0.0, cell=1.0)
    assert ind.crossfit_typicality_spearman(ray, items, measure="cosine") > 0.8
    fit = np.zeros(len(items), dtype=bool)
    fit[::4] = True  # every other lemma (items come in lemma pairs)
    fit[1::4] = True
    assert ind.typicality_spearman(x, items, fit, ~fit) > 0.9
    frame = ind.typicality_by_foundation(x, items, fit, ~fit)
    assert frame.foundation.tolist() == list(ind.FOUNDATIONS)
    assert (frame.spearman > 0.8).all()
    assert frame.n.sum() == int((~fit & (items.kind != "neutral").to_numpy()).sum())


def test_projection_mixes_item_norm_and_cosine_does_not() -> None:
    """Items at one position along the axis but at typicality-graded distances off it."""
    items = _items()
    rng = np.random.default_rng(3)
    dirs = _directions(rng)
    x = _planted(items, dirs, valence=1.0, foundation=0.0, cell=0.0, mirror=True)
    off = rng.standard_normal((len(items), D))
    off -= np.outer(off @ dirs["virtue"], dirs["virtue"])
    x = x + (items.typicality.to_numpy() * 5.0)[:, None] * off / np.linalg.norm(off, axis=1, keepdims=True)
    x += 0.01 * rng.standard_normal(x.shape)
    assert abs(ind.crossfit_typicality_spearman(x, items)) < 0.3
    assert ind.crossfit_typicality_spearman(x, items, measure="cosine") < -0.8


# ------------------------------------------------------------------------------------------- collapsed


def test_collapsed_geometry_scores_chance() -> None:
    items = _items()
    x = _collapsed(items)
    out = ind.diagnostics(x, items)
    n_cell, n_neutral = N_CELL_LEMMAS * PER_LEMMA, N_NEUTRAL_LEMMAS * PER_LEMMA
    bias = (1 / n_neutral) / (1 / n_cell + 1 / n_neutral)  # both prototypes subtract one noisy neutral mean
    assert out["virtue_vice_cosine"] == pytest.approx(bias, abs=0.15)
    assert abs(out["typicality_spearman"]) < 0.2
    assert abs(out["ari_valence"]) < 0.05
    assert abs(out["ari_foundation"]) < 0.05
    assert -0.05 < out["probe_r2"] < 0.02  # the penalty grid reaches far enough to shrink to the mean


def test_probe_on_noise_with_more_features_than_items_stays_near_zero() -> None:
    """With d > n a nearly interpolating fit must not look good in the inner leave-one-lemma-out CV."""
    items = _items()
    x = np.random.default_rng(7).standard_normal((len(items), 1000))
    assert -0.05 < ind.probe_r2(x, items) < 0.02


def test_noise_cosine_is_the_shared_neutral_mean_bias_not_zero() -> None:
    items = _items()
    x = np.random.default_rng(6).standard_normal((len(items), 4000))
    n_cell, n_neutral = N_CELL_LEMMAS * PER_LEMMA, N_NEUTRAL_LEMMAS * PER_LEMMA
    bias = (1 / n_neutral) / (1 / n_cell + 1 / n_neutral)
    assert ind.mean_virtue_vice_cosine(x, items) == pytest.approx(bias, abs=0.03)
    assert abs(ind.mean_virtue_vice_cosine(x, items, raw=True)) < 0.03


def test_shuffled_null_of_separated_geometry_is_near_chance() -> None:
    items = _items()
    x, _ = _geometry(items)
    null = ind.shuffled_null(x, items, n_perm=3, settings=QUICK)
    assert abs(null["virtue_vice_cosine"]) < 0.4
    assert abs(null["typicality_spearman"]) < 0.2
    assert abs(null["ari_valence"]) < 0.05
    assert abs(null["ari_foundation"]) < 0.05
    assert null["probe_r2"] < 0.05
    assert ind.shuffled_null(x, items, n_perm=3, settings=QUICK) == null


def test_shuffle_moves_whole_lemmas_with_all_their_labels() -> None:
    items = _items()
    _, lemma = ind._read_items(items, len(items))
    source = ind._lemma_shuffle(lemma, np.random.default_rng(0))
    assert sorted(source.tolist()) == list(range(len(items)))  # equal lemma sizes: a permutation of rows
    src_lemma = lemma[source]
    for g in np.unique(lemma):
        assert len(np.unique(src_lemma[lemma == g])) == 1
    moved = items.iloc[source].reset_index(drop=True)
    assert (moved.groupby(items.lemma).kind.nunique() == 1).all()
    uneven = np.array([0, 0, 0, 1, 2, 2])
    src = ind._lemma_shuffle(uneven, np.random.default_rng(1))
    for g in range(3):
        assert len(np.unique(uneven[src[uneven == g]])) == 1


# ------------------------------------------------------------------------------------------- lemma grouping


def _memorisation_data(seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Every lemma its own random direction r and typicality t; both items of a lemma sit at t * r.

    Only an item's twin in the training fold says anything about its typicality.
    """
    items = _items(seed, n_cell=20)
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(items.lemma)
    t = rng.uniform(0.05, 1.0, codes.max() + 1)[codes]
    moral = (items.kind != "neutral").to_numpy()
    items["typicality"] = np.where(moral, t, 0.0)
    r = (rng.standard_normal((codes.max() + 1, 200)) / np.sqrt(200))[codes]
    return items, np.where(moral[:, None], t[:, None] * r, 0.05 * r)


def test_crossfit_typicality_keeps_lemmas_together() -> None:
    items, x = _memorisation_data()
    split_twins = items.assign(lemma=np.arange(len(items)))
    for seed in range(3):
        assert abs(ind.crossfit_typicality_spearman(x, items, seed=seed)) < 0.15
        assert (
            ind.crossfit_typicality_spearman(x, split_twins, seed=seed) > 0.2
        )  # the leak this guards against


def test_probe_keeps_lemmas_together() -> None:
    items, _ = _memorisation_data()
    rng = np.random.default_rng(4)
    codes, _ = pd.factorize(items.lemma)
    targets = rng.standard_normal((codes.max() + 1, len(ind.VECTOR_COLUMNS)))[codes]
    items[list(ind.VECTOR_COLUMNS)] = targets
    x = rng.standard_normal((codes.max() + 1, 200))[codes]
    assert ind.probe_r2(x, items) < 0.0
    assert ind.probe_r2(x, items.assign(lemma=np.arange(len(items)))) > 0.15


def test_folds_never_split_a_lemma(monkeypatch: pytest.MonkeyPatch) -> None:
    items = _items()
    x, _ = _geometry(items)
    seen: list[tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = []
    real = stats.grouped_folds

    def spy(groups: np.ndarray, k: int, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
        folds = real(groups, k, seed=seed)
        seen.append((np.asarray(groups), folds))
        return folds

    monkeypatch.setattr(ind, "grouped_folds", spy)
    ind.diagnostics(x, items, settings=QUICK)
    ind.jackknife_diagnostics(x, items, n_blocks=4, settings=ind.FAST_SETTINGS)
    assert {len(folds) for _, folds in seen} == {2, 3, 4, 5}
    for groups, folds in seen:
        for train, test in folds:
            assert not set(groups[train].tolist()) & set(groups[test].tolist())


# ------------------------------------------------------------------------------------------- ridge probe


def _brute_force_probe(x: np.ndarray, y: np.ndarray, lemma: np.ndarray, alphas: tuple[float, ...]) -> float:
    """The documented probe with sklearn Ridge and an explicit leave-one-lemma-out loop."""
    sse = sst = 0.0
    for train, test in stats.grouped_folds(lemma, 5, seed=0):
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
        z, z_test = (x[train] - mu) / sd, (x[test] - mu) / sd
        y_mean = y[train].mean(axis=0)
        yc = y[train] - y_mean
        inner = []
        for alpha in alphas:
            err = 0.0
            for g in np.unique(lemma[train]):
                out = lemma[train] == g
                fit = Ridge(alpha=alpha).fit(z[~out], yc[~out])  # the intercept refitted without g
                err += float(((yc[out] - fit.predict(z[out])) ** 2).sum())
            inner.append(err)
        best = alphas[int(np.argmin(inner))]
        pred = Ridge(alpha=best, fit_intercept=False).fit(z, yc).predict(z_test) + y_mean
        sse += float(((y[test] - pred) ** 2).sum())
        sst += float(((y[test] - y_mean) ** 2).sum())
    return 1.0 - sse / sst


@pytest.mark.parametrize("d", [8, 60])
def test_probe_r2_matches_sklearn_ridge_with_explicit_leave_one_lemma_out(d: int) -> None:
    items = _items(n_cell=2, n_neutral=6)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((len(items), d)) * rng.uniform(0.5, 3.0, d) + rng.normal(0, 5, d)
    w = rng.standard_normal((d, len(ind.VECTOR_COLUMNS)))
    items[list(ind.VECTOR_COLUMNS)] = x @ w / d + rng.standard_normal((len(items), len(ind.VECTOR_COLUMNS)))
    _, lemma = ind._read_items(items, len(items))
    alphas = (0.1, 10.0, 1000.0)
    y = items[list(ind.VECTOR_COLUMNS)].to_numpy()
    expected = _brute_force_probe(x, y, lemma, alphas)
    assert ind.probe_r2(x, items, alphas=alphas) == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------------------------------------- curves


def test_layer_curves_rows_equal_diagnostics_and_null_per_layer() -> None:
    items = _items()
    separated, _ = _geometry(items)
    reads = np.stack([_collapsed(items), separated], axis=1).astype(np.float32)
    rows = (items.foundation != "sanctity").to_numpy()
    curves = ind.layer_curves(reads, [3, 7], items, rows, n_perm=2, settings=QUICK)
    assert list(curves.columns) == ["layer", *ind.METRICS, *(f"{m}_null" for m in ind.METRICS)]
    assert curves.layer.tolist() == [3, 7]
    for j in range(2):
        x = reads[:, j].astype(float)
        real = ind.diagnostics(x, items, rows, settings=QUICK)
        null = ind.shuffled_null(x, items, rows, n_perm=2, settings=QUICK)
        for m in ind.METRICS:
            assert curves.loc[j, m] == pytest.approx(real[m], abs=1e-9)
            assert curves.loc[j, f"{m}_null"] == pytest.approx(null[m], abs=1e-9)
    assert curves.loc[1, "ari_valence"] > 0.95 > curves.loc[0, "ari_valence"]
    assert curves.loc[1, "probe_r2"] > curves.loc[1, "probe_r2_null"] + 0.5
    bare = ind.layer_curves(reads, [3, 7], items, rows, n_perm=0, settings=QUICK)
    assert bare[[f"{m}_null" for m in ind.METRICS]].isna().all().all()
    with pytest.raises(ValueError, match="layers names 3 read points but reads has 2"):
        ind.layer_curves(reads, [1, 2, 3], items)
    with pytest.raises(ValueError, match="reads must be 3-D"):
        ind.layer_curves(separated, [0], items)


# ------------------------------------------------------------------------------------------- jackknife


def test_jackknife_intervals_contain_the_estimate_and_cover_a_noisy_truth() -> None:
    items = _items()
    x, _ = _geometry(items)
    out = ind.jackknife_diagnostics(x, items, n_blocks=8, settings=ind.FAST_SETTINGS)
    full = ind.diagnostics(x, items, settings=ind.FAST_SETTINGS)
    for m, est in out.items():
        assert est.ci_low <= est.estimate <= est.ci_high
        assert est.estimate == pytest.approx(full[m])
        assert est.n == items.lemma.nunique() and est.p is None
    # weak signal: the full-data estimate is not dragged toward chance, and a second draw of the same
    # geometry lies inside the interval
    weak, _ = _geometry(items, valence=0.05, foundation=0.02, cell=0.05)
    again, _ = _geometry(items, seed=9, valence=0.05, foundation=0.02, cell=0.05)
    first = ind.jackknife_diagnostics(weak, items, n_blocks=10, settings=ind.FAST_SETTINGS)
    second = ind.diagnostics(again, items, settings=ind.FAST_SETTINGS)
    est = first["typicality_spearman"]
    assert est.ci_low <= second["typicality_spearman"] <= est.ci_high


def test_paired_jackknife_is_zero_for_no_change_and_significant_for_a_collapse() -> None:
    items = _items()
    before, _ = _geometry(items)
    after, same = ind.paired_jackknife(before, before.copy(), items, n_blocks=6, settings=ind.FAST_SETTINGS)
    alone = ind.jackknife_diagnostics(before, items, n_blocks=6, settings=ind.FAST_SETTINGS)
    assert after == alone
    for est in same.values():
        assert (est.estimate, est.ci_low, est.ci_high, est.p) == (0.0, 0.0, 0.0, 1.0)
    _, out = ind.paired_jackknife(before, _collapsed(items), items, n_blocks=6, settings=ind.FAST_SETTINGS)
    assert out["ari_valence"].ci_high < -0.5 and out["ari_valence"].p is not None
    assert out["ari_valence"].p < 0.01


# ------------------------------------------------------------------------------------------- errors


def test_errors_name_what_is_wrong() -> None:
    items = _items(n_cell=2, n_neutral=2)
    x = np.random.default_rng(0).standard_normal((len(items), 4))
    with pytest.raises(ValueError, match=r"items lacks columns \['typicality', 'care_vice'\]"):
        ind.diagnostics(x, items.drop(columns=["typicality", "care_vice"]))
    moral = (items.kind != "neutral").to_numpy()
    with pytest.raises(ValueError, match="no neutral items"):
        ind.prototypes(x, items, moral)
    assert len(ind.prototypes(x, items, moral, raw=True)) == 10
    with pytest.raises(ValueError, match="no neutral items"):
        ind.virtue_vice_cosine(x, items, moral)
    with pytest.raises(ValueError, match="fit_rows hold no neutral items"):
        ind.typicality_spearman(x, items, moral, ~moral)
    with pytest.raises(ValueError, match="items has 44 rows but X has 43"):
        ind.diagnostics(x[:-1], items)
    with pytest.raises(ValueError, match="X must be 2-D"):
        ind.diagnostics(x[:, 0], items)
    with pytest.raises(ValueError, match="rows must be a boolean mask"):
        ind.diagnostics(x, items, np.flatnonzero(moral))
    with pytest.raises(ValueError, match="rows selects no items"):
        ind.diagnostics(x, items, np.zeros(len(items), dtype=bool))
    with pytest.raises(ValueError, match=r"column 'kind' must hold only .* found \['good'\]"):
        ind.diagnostics(x, items.assign(kind=items.kind.replace("virtue", "good")))
    with pytest.raises(ValueError, match=r"need a foundation in .* found \['harm'\]"):
        ind.diagnostics(x, items.assign(foundation=items.foundation.replace("care", "harm")))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        ind.diagnostics(bad, items)
    with pytest.raises(ValueError, match="measure must be"):
        ind.crossfit_typicality_spearman(x, items, measure="dot")
    with pytest.raises(ValueError, match="alphas must be"):
        ind.DiagnosticSettings(alphas=(0.0,))
