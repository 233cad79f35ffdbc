"""valuescope.stats on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from valuescope import stats
from valuescope.stats import (
    Estimate,
    auroc,
    bootstrap,
    check_groups,
    choose_layer,
    cohens_d,
    fdr_bh,
    grouped_folds,
    paired_difference,
    permutation_p,
    split_half,
)


def _mean_of(values: np.ndarray):
    return lambda idx: float(values[idx].mean())


def _clustered(
    rng: np.random.Generator, n_groups: int, size: int, sd_group: float = 1.0, sd_row: float = 0.1
):
    groups = np.repeat(np.arange(n_groups), size)
    values = rng.normal(0, sd_group, n_groups)[groups] + rng.normal(0, sd_row, n_groups * size)
    return values, groups


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_mean_matches_normal_theory() -> None:
    x = np.random.default_rng(1).normal(3.0, 2.0, 4000)
    est, lo, hi = bootstrap(_mean_of(x), len(x), n_boot=2000, seed=0)
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert est == pytest.approx(x.mean())
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.2 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.2 * se)


def test_grouped_ci_is_wider_and_matches_between_group_se() -> None:
    values, groups = _clustered(np.random.default_rng(2), n_groups=60, size=20)
    _, lo_rows, hi_rows = bootstrap(_mean_of(values), len(values), n_boot=1000, seed=0)
    _, lo, hi = bootstrap(_mean_of(values), len(values), groups=groups, n_boot=2000, seed=0)
    assert (hi - lo) > 3 * (hi_rows - lo_rows)
    group_means = np.bincount(groups, weights=values) / np.bincount(groups)
    se = group_means.std(ddof=1) / np.sqrt(len(group_means))
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.15)


def test_grouped_bootstrap_coverage_near_nominal() -> None:
    rng = np.random.default_rng(3)
    hits = 0
    reps = 200
    for r in range(reps):
        values, groups = _clustered(rng, n_groups=40, size=5, sd_row=0.5)
        _, lo, hi = bootstrap(_mean_of(values), len(values), groups=groups, n_boot=400, seed=r)
        hits += lo <= 0.0 <= hi
    assert 0.87 <= hits / reps <= 0.99  # true coverage here is about 0.93 (percentile, 40 groups)


def test_bootstrap_draws_whole_groups_and_keeps_strata() -> None:
    groups = np.repeat(np.arange(10), 3)  # ten groups of three rows
    strata = np.repeat(np.arange(10) % 2, 3)  # groups alternate between two strata
    seen: list[np.ndarray] = []

    def stat(idx: np.ndarray) -> float:
        seen.append(idx.copy())
        return float(idx.mean())

    bootstrap(stat, len(groups), groups=groups, strata=strata, n_boot=200, seed=0)
    assert np.array_equal(seen[0], np.arange(30))  # the estimate is on all rows
    duplicated = False
    for idx in seen[1:]:
        assert len(idx) == 30
        counts = np.bincount(idx, minlength=30).reshape(10, 3)
        assert (counts == counts[:, :1]).all()  # each group's rows appear equally often: whole groups
        assert (strata[idx] == 0).sum() == 15  # five groups from each stratum, every time
        duplicated |= bool((counts[:, 0] > 1).any())
    assert duplicated  # drawn with replacement


def test_bootstrap_is_deterministic_per_seed() -> None:
    x = np.random.default_rng(4).normal(size=50)
    assert bootstrap(_mean_of(x), 50, seed=7) == bootstrap(_mean_of(x), 50, seed=7)
    assert bootstrap(_mean_of(x), 50, seed=7) != bootstrap(_mean_of(x), 50, seed=8)


def test_bootstrap_interval_widened_to_contain_estimate() -> None:
    # share of distinct rows: 1 on the full data, about 0.63 on every resample
    est, lo, hi = bootstrap(lambda idx: len(np.unique(idx)) / 100, 100, n_boot=200, seed=0)
    assert est == 1.0
    assert hi == est
    assert lo < 0.75


def test_bootstrap_too_many_nan_resamples_raises() -> None:
    labels = np.zeros(40, dtype=bool)
    labels[0] = True  # a single positive: most resamples lack it
    scores = np.random.default_rng(5).normal(size=40)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap(lambda idx: auroc(scores[idx], labels[idx]), 40, n_boot=200, seed=0)


def test_bootstrap_few_nan_resamples_are_dropped() -> None:
    calls = iter(range(10_000))

    def stat(idx: np.ndarray) -> float:
        return float("nan") if next(calls) % 50 == 1 else float(idx.size)

    est, lo, hi = bootstrap(stat, 10, n_boot=100, seed=0)
    assert (est, lo, hi) == (10.0, 10.0, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"groups": np.arange(5)}, "groups"),
        ({"strata": np.zeros(3)}, "strata"),
        ({"groups": np.repeat([0, 1], 5), "strata": np.arange(10) % 2}, "strata"),
        ({"level": 1.5}, "level"),
        ({"n_boot": 0}, "n_boot"),
    ],
)
def test_bootstrap_bad_inputs(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        bootstrap(lambda idx: 0.0, 10, **kwargs)


# ---------------------------------------------------------------------------------------------- permutation


def _mean_gap(values: np.ndarray):
    return lambda lab: float(values[lab == 1].mean() - values[lab == 0].mean())


def test_permutation_p_uniform_under_null() -> None:
    rng = np.random.default_rng(6)
    labels = np.repeat([0, 1], 20)
    ps = []
    for r in range(200):
        values = rng.normal(size=40)
        ps.append(permutation_p(_mean_gap(values), labels, n_perm=199, seed=r))
    ps_arr = np.array(ps)
    assert 0.01 <= (ps_arr < 0.05).mean() <= 0.1
    assert 0.4 <= (ps_arr < 0.5).mean() <= 0.6


def test_permutation_p_tiny_for_huge_effect() -> None:
    labels = np.repeat([0, 1], 30)
    values = labels * 10.0 + np.random.default_rng(7).normal(size=60)
    assert permutation_p(_mean_gap(values), labels, n_perm=999, seed=0) == pytest.approx(1 / 1000)
    assert permutation_p(_mean_gap(values), labels, n_perm=999, alternative="greater") == pytest.approx(
        1 / 1000
    )
    assert permutation_p(_mean_gap(values), labels, n_perm=999, alternative="less") == pytest.approx(1.0)


def test_permutation_moves_whole_groups_within_strata() -> None:
    groups = np.repeat(np.arange(12), 4)
    group_label = np.array([0, 1] * 6)
    labels = group_label[groups]
    within = np.repeat(np.arange(12) // 6, 4)  # two strata of six groups
    seen: list[np.ndarray] = []

    def stat(lab: np.ndarray) -> float:
        seen.append(lab.copy())
        return float(lab[:4].sum())

    permutation_p(stat, labels, groups=groups, within=within, n_perm=300, seed=0)
    assert np.array_equal(seen[0], labels)
    changed = False
    for lab in seen[1:]:
        per_group = lab.reshape(12, 4)
        assert (per_group == per_group[:, :1]).all()  # labels stay constant within each group
        for s in (0, 1):
            assert lab[within == s].sum() == labels[within == s].sum()  # permuted only within stratum
        changed |= not np.array_equal(lab, labels)
    assert changed


def test_grouped_permutation_null_is_uniform() -> None:
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(20), 5)
    labels = (np.arange(20) % 2)[groups]
    ps = []
    for r in range(150):
        values, _ = _clustered(rng, n_groups=20, size=5)
        ps.append(permutation_p(_mean_gap(values), labels, groups=groups, n_perm=199, seed=r))
    assert 0.01 <= (np.array(ps) < 0.05).mean() <= 0.1


def test_paired_design_shuffles_within_groups() -> None:
    groups = np.repeat(np.arange(8), 3)
    labels = np.tile(np.array(["a", "b", "c"]), 8)
    seen: list[np.ndarray] = []

    def stat(lab: np.ndarray) -> float:
        seen.append(lab.copy())
        return float((lab == "a").argmax())

    permutation_p(stat, labels, groups=groups, n_perm=100, seed=0)
    assert len(seen) == 101
    changed = False
    for lab in seen[1:]:
        for g in range(8):
            assert sorted(lab[groups == g]) == ["a", "b", "c"]
        changed |= not np.array_equal(lab, labels)
    assert changed


def test_permutation_p_is_deterministic_and_validates() -> None:
    labels = np.repeat([0, 1], 10)
    values = np.random.default_rng(9).normal(size=20)
    assert permutation_p(_mean_gap(values), labels, seed=3) == permutation_p(
        _mean_gap(values), labels, seed=3
    )
    with pytest.raises(ValueError, match="groups"):
        permutation_p(_mean_gap(values), labels, groups=np.arange(5))
    with pytest.raises(ValueError, match="within"):
        permutation_p(_mean_gap(values), labels, groups=np.repeat(np.arange(10), 2), within=np.arange(20) % 2)
    with pytest.raises(ValueError, match="alternative"):
        permutation_p(_mean_gap(values), labels, alternative="both")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- effect sizes


def test_cohens_d_known_case() -> None:
    assert cohens_d(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])) == pytest.approx(-3.0)
    # unequal sizes: pooled variance (2*1 + 3*(5/3)) / 5 = 1.4
    d = cohens_d(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0, 3.0]))
    assert d == pytest.approx(0.5 / np.sqrt(1.4))
    assert np.isnan(cohens_d(np.array([1.0]), np.array([2.0])))
    assert np.isnan(cohens_d(np.array([1.0, 1.0]), np.array([1.0, 1.0])))


def test_auroc_matches_mann_whitney() -> None:
    rng = np.random.default_rng(10)
    scores = np.round(rng.normal(size=80), 1)  # plenty of ties
    labels = rng.random(80) < 0.4
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert auroc(scores, labels) == pytest.approx(u / (labels.sum() * (~labels).sum()))
    assert auroc(scores, labels.astype(int)) == pytest.approx(auroc(scores, labels))
    assert auroc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([1.0, 1.0]), np.array([0, 1])) == 0.5
    assert np.isnan(auroc(np.array([1.0, 2.0]), np.array([1, 1])))
    with pytest.raises(ValueError, match="labels"):
        auroc(np.array([1.0, 2.0]), np.array([0, 2]))
    with pytest.raises(ValueError, match="labels"):
        auroc(np.array([1.0, 2.0]), np.array([0, 1, 1]))


# ---------------------------------------------------------------------------------------------- paired


def test_paired_difference_exact_sign_flip_by_hand() -> None:
    # per-group mean differences 1, 2, 3 (the first group has two rows: 0 and 2)
    a = np.array([0.0, 2.0, 2.0, 3.0, 3.0]) + 10
    b = np.full(5, 10.0)
    groups = np.array([0, 0, 1, 2, 2])
    est = paired_difference(a, b, groups=groups, n_boot=500)
    assert isinstance(est, Estimate)
    assert est.estimate == pytest.approx(2.0)
    assert est.n == 3
    # sign flips of (1, 2, 3): sums 6,4,2,0,0,-2,-4,-6 -> |sum| >= 6 in 2 of 8
    assert est.p == pytest.approx(0.25)
    assert est.ci_low <= 2.0 <= est.ci_high
    assert est.ci_low >= 1.0 and est.ci_high <= 3.0


def test_paired_difference_large_sample() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(size=200)
    a, b = base + 0.5 + rng.normal(0, 0.2, 200), base
    est = paired_difference(a, b, n_boot=1000, n_perm=999, seed=0)
    assert est.n == 200
    assert est.p == pytest.approx(1 / 1000)
    se = (a - b).std(ddof=1) / np.sqrt(200)
    assert est.ci_low == pytest.approx((a - b).mean() - 1.96 * se, abs=0.25 * se)
    null = paired_difference(base + rng.normal(0, 0.2, 200), base, n_perm=999, seed=0)
    assert null.p is not None and null.p > 0.01
    with pytest.raises(ValueError, match="b"):
        paired_difference(a, b[:10])


def test_estimate_as_metric() -> None:
    e = Estimate(estimate=1.0, ci_low=0.5, ci_high=1.5, p=None, n=12)
    m = e.as_metric(layer=3, better="higher", note=None)
    assert m == {
        "estimate": 1.0,
        "ci_low": 0.5,
        "ci_high": 1.5,
        "p": None,
        "n": 12,
        "layer": 3,
        "better": "higher",
    }
    with pytest.raises(ValueError, match="n"):
        e.as_metric(n=3)


# ---------------------------------------------------------------------------------------------- FDR


def test_fdr_bh_hand_example() -> None:
    q = fdr_bh([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])


def test_fdr_bh_nan_monotone_capped() -> None:
    p = np.array([0.5, np.nan, 0.9, 0.001, 0.95, 0.2])
    q = fdr_bh(p)
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[~np.isnan(p)], fdr_bh(p[~np.isnan(p)]))
    ok = ~np.isnan(p)
    order = np.argsort(p[ok])
    assert (np.diff(q[ok][order]) >= 0).all()
    assert (q[ok] <= 1).all() and (q[ok] >= p[ok]).all()
    assert fdr_bh([1.0, 1.0]).tolist() == [1.0, 1.0]
    assert fdr_bh([]).shape == (0,)
    with pytest.raises(ValueError, match="p"):
        fdr_bh([0.1, 1.2])


# ---------------------------------------------------------------------------------------------- splits


def _assert_whole_groups(mask: np.ndarray, groups: np.ndarray) -> None:
    for g in np.unique(groups):
        assert len(set(mask[groups == g].tolist())) == 1, f"group {g} is split"


@pytest.mark.parametrize("n_groups", [2, 3, 11, 40])
def test_split_half_keeps_groups_whole(n_groups: int) -> None:
    rng = np.random.default_rng(n_groups)
    groups = rng.integers(0, n_groups, 200)
    groups[:n_groups] = np.arange(n_groups)  # every group present
    select, report = split_half(groups, seed=1)
    assert not (select & report).any() and (select | report).all()
    _assert_whole_groups(select, groups)
    n_sel, n_rep = len(np.unique(groups[select])), len(np.unique(groups[report]))
    assert n_sel + n_rep == n_groups and abs(n_sel - n_rep) <= 1
    again = split_half(groups, seed=1)
    assert np.array_equal(again[0], select)


def test_split_half_needs_two_groups() -> None:
    with pytest.raises(ValueError, match="groups"):
        split_half(np.zeros(10, dtype=int))


@pytest.mark.parametrize("k", [2, 5, 7])
def test_grouped_folds_never_split_groups(k: int) -> None:
    groups = np.repeat(np.array([f"s{i}" for i in range(7)]), 3)
    folds = grouped_folds(groups, k, seed=2)
    assert len(folds) == k
    tested = np.zeros(len(groups), dtype=int)
    sizes = []
    for train, test in folds:
        assert not (train & test).any() and (train | test).all()
        assert not set(groups[train]) & set(groups[test])
        _assert_whole_groups(test, groups)
        tested += test
        sizes.append(len(set(groups[test])))
    assert (tested == 1).all()
    assert max(sizes) - min(sizes) <= 1


def test_grouped_folds_bad_k() -> None:
    groups = np.repeat(np.arange(3), 2)
    with pytest.raises(ValueError, match="k"):
        grouped_folds(groups, 4)
    with pytest.raises(ValueError, match="k"):
        grouped_folds(groups, 1)


def test_choose_layer_picks_planted_layer_on_selection_half() -> None:
    groups = np.repeat(np.arange(30), 4)
    signal = {layer: -abs(layer - 5) for layer in range(12)}
    masks: list[np.ndarray] = []

    def score(layer: int, mask: np.ndarray) -> float:
        masks.append(mask)
        return signal[layer] + 0.01 * float(mask.mean())

    choice = choose_layer(score, list(range(12)), groups, seed=3)
    assert choice.layer == 5
    assert set(choice.scores) == set(range(12))
    assert not (choice.select & choice.report).any() and (choice.select | choice.report).all()
    _assert_whole_groups(choice.select, groups)
    assert all(np.array_equal(m, choice.select) for m in masks)
    worst = choose_layer(score, list(range(12)), groups, seed=3, higher_is_better=False)
    assert worst.layer == 11
    flat = choose_layer(lambda layer, mask: 1.0, [4, 2, 8], groups)
    assert flat.layer == 4  # ties go to the earliest layer listed
    nan_first = choose_layer(
        lambda layer, mask: float("nan") if layer == 1 else float(layer), [1, 2, 3], groups
    )
    assert nan_first.layer == 3


def test_choose_layer_bad_inputs() -> None:
    groups = np.repeat(np.arange(4), 2)
    with pytest.raises(ValueError, match="layers"):
        choose_layer(lambda layer, mask: 0.0, [], groups)
    with pytest.raises(ValueError, match="NaN"):
        choose_layer(lambda layer, mask: float("nan"), [1, 2], groups)


def test_check_groups() -> None:
    assert np.array_equal(check_groups(None, 4), np.arange(4))
    with pytest.raises(ValueError, match="pair_ids"):
        check_groups(np.arange(3), 4, name="pair_ids")
    with pytest.raises(ValueError, match="groups"):
        check_groups(np.array([0.0, np.nan]), 2)
    with pytest.raises(ValueError, match="groups"):
        check_groups(np.zeros((2, 2)), 2)
    assert "bootstrap" in stats.__all__


def test_auroc_columns_equals_the_loop_with_ties_nans_and_empty_classes() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, (40, 6)).astype(float)  # many ties
    labels = rng.random((40, 6)) < 0.3
    labels[:, 4] = False  # an empty class
    scores[7, 5] = np.nan
    got = stats.auroc_columns(scores, labels)
    want = [stats.auroc(scores[:, j], labels[:, j]) for j in range(6)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    for j in range(4):  # auroc goes through auroc_columns, so also against an independent U statistic
        pos, neg = scores[labels[:, j], j], scores[~labels[:, j], j]
        assert got[j] == pytest.approx(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)), abs=1e-12)
    assert np.isnan(got[4]) and np.isnan(got[5])
    with pytest.raises(ValueError, match="one shape"):
        stats.auroc_columns(scores, labels[:, :3])


def test_auroc_weighted_equals_the_auroc_of_the_repeated_rows() -> None:
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 5, 30).astype(float)  # many ties
    labels = rng.random(30) < 0.4
    weights = rng.integers(0, 3, (25, 30))
    weights[0] = 0
    weights[0, labels] = 1  # no negatives: NaN
    got = stats.auroc_weighted(scores, labels, weights)
    for b in range(1, 25):
        rows = np.repeat(np.arange(30), weights[b])
        assert got[b] == stats.auroc(scores[rows], labels[rows])
    assert np.isnan(got[0])
    assert np.isnan(stats.auroc_weighted(np.r_[scores[:-1], np.nan], labels, weights)).all()
    with pytest.raises(ValueError, match="weights"):
        stats.auroc_weighted(scores, labels, weights[:, :5])


def test_bootstrap_auroc_gives_the_generic_bootstraps_numbers() -> None:
    rng = np.random.default_rng(8)
    for trial in range(12):
        n = int(rng.integers(8, 60))
        scores = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.normal(size=n)
        labels = rng.random(n) < 0.5
        labels[:2] = [True, False]
        groups = rng.integers(0, n // 2, n)
        strata = None if trial < 6 else groups % 2
        kw = {"groups": groups, "strata": strata, "n_boot": 200, "seed": trial}
        want = bootstrap(lambda i: auroc(scores[i], labels[i]), n, **kw)  # noqa: B023
        assert stats.bootstrap_auroc(scores, labels, **kw) == want


def test_bootstrap_counts_are_the_bootstraps_resamples() -> None:
    groups = np.repeat(np.arange(6), [1, 2, 3, 1, 2, 3])
    seen: list[np.ndarray] = []

    def record(rows: np.ndarray) -> float:
        seen.append(np.bincount(rows, minlength=12))
        return 0.0

    bootstrap(record, 12, groups=groups, n_boot=50, seed=4)
    counts = stats.bootstrap_counts(12, groups=groups, n_boot=50, seed=4)
    np.testing.assert_array_equal(counts, np.stack(seen[1:]))  # the first call is the full data
    assert (counts.sum(1) > 0).all()
    assert ((counts[:, 1] == counts[:, 2]) & (counts[:, 3] == counts[:, 5])).all()  # whole groups move
