"""The entanglement study's math (rating_effects, directions, verdicts) on synthetic designs with
planted (known) effects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from valuescope import stats
from valuescope.edit.random_directions import matched_random_directions
from valuescope.stats import Estimate
from valuescope.studies.entanglement import directions, rating_effects, verdicts

FRAME_SD, BASE_SD, NOISE_SD = 0.5, 0.5, 1.0
CELL_SD = float(np.sqrt(FRAME_SD**2 + BASE_SD**2 + NOISE_SD**2))  # within-cell SD of the planted scores
N_RESAMPLE = 400  # bootstrap and permutation draws: enough for these tests, quick


def _design(
    seed: int,
    *,
    leak: float = 0.0,
    grammar: float = 1.0,
    n_frames: int = 40,
    n_bases: int = 4,
) -> pd.DataFrame:
    """Frames x bases (half good, half bad) x 2 versions; score = frame + base + grammar + leak + noise."""
    rng = np.random.default_rng(seed)
    n_rows = n_frames * n_bases * 2
    frame = np.repeat(np.arange(n_frames), n_bases * 2)
    base = np.repeat(np.arange(n_frames * n_bases), 2)
    good = (base % n_bases) % 2 == 0
    grammatical = np.tile([True, False], n_frames * n_bases)
    score = (
        rng.normal(0, FRAME_SD, n_frames)[frame]
        + rng.normal(0, BASE_SD, n_frames * n_bases)[base]
        + grammar * grammatical
        + leak * good
        + rng.normal(0, NOISE_SD, n_rows)
    )
    return pd.DataFrame(
        {
            "frame": [f"f{i}" for i in frame],
            "base": [f"b{i}" for i in base],
            "valence": np.where(good, "good", "bad"),
            "version": np.where(grammatical, "grammatical", "ungrammatical"),
            "score": score,
        }
    )


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[np.ndarray]:
    """Record every argument the statistic of ``stats.<name>`` receives (row indices or labels)."""
    seen: list[np.ndarray] = []
    real = getattr(stats, name)

    def wrapper(statistic: Callable[[np.ndarray], float], *args: Any, **kwargs: Any) -> Any:
        def recorded(arg: np.ndarray) -> float:
            seen.append(np.array(arg, copy=True))
            return statistic(arg)

        return real(recorded, *args, **kwargs)

    monkeypatch.setattr(stats, name, wrapper)
    return seen


# ----------------------------------------------------------------------------------------------------- index


def test_index_is_item_weighted_mean_of_within_level_d() -> None:
    df = _design(0, leak=0.5)
    df = df.drop(index=df.index[(df["version"] == "ungrammatical")][:20])  # unequal level sizes
    ds, sizes = [], []
    for _, cell in df.groupby("version"):
        good = cell["valence"] == "good"
        ds.append(stats.cohens_d(cell.loc[good, "score"].to_numpy(), cell.loc[~good, "score"].to_numpy()))
        sizes.append(len(cell))
    expected = float(np.average(ds, weights=sizes))
    assert rating_effects.entanglement_index(df, "score", "version") == pytest.approx(expected)


def test_index_ignores_the_non_moral_main_effect() -> None:
    df = _design(1, leak=0.0, grammar=5.0)
    assert abs(rating_effects.entanglement_index(df, "score", "version")) < 0.3


def test_index_rejects_unknown_valence() -> None:
    df = _design(0)
    df.loc[0, "valence"] = "neutral"
    with pytest.raises(ValueError, match="good"):
        rating_effects.entanglement_index(df, "score", "version")


# -------------------------------------------------------------------------------------------------- estimate


def test_planted_leak_is_found_with_the_right_sign() -> None:
    leak = 0.8
    for sign in (1.0, -1.0):
        est = rating_effects.entanglement_estimate(
            _design(2, leak=sign * leak), "score", "version", seed=3, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
        )
        assert est.n == 40
        assert est.estimate == pytest.approx(sign * leak / CELL_SD, abs=0.25)
        assert not verdicts.uninterpretable(est)
        assert np.sign(est.ci_low) == np.sign(est.ci_high) == sign
        assert est.p is not None and est.p < 0.01


def test_no_leak_ci_covers_zero_in_most_seeds() -> None:
    covered = [
        verdicts.uninterpretable(
            rating_effects.entanglement_estimate(
                _design(s), "score", "version", seed=s, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
            )
        )
        for s in range(6)
    ]
    assert sum(covered) >= 5


def test_permutation_moves_valence_only_between_whole_bases(monkeypatch: pytest.MonkeyPatch) -> None:
    df = _design(4, leak=0.5)
    seen = _spy(monkeypatch, "permutation_p")
    rating_effects.entanglement_estimate(df, "score", "version", n_boot=50, n_perm=200)
    assert len(seen) == 201  # observed + permutations
    base = df["base"].to_numpy()
    frame = df["frame"].to_numpy()
    moved = 0
    for labels in seen:
        per_base = pd.Series(labels).groupby(base).nunique()
        assert (per_base == 1).all()  # a base's versions always share one valence
        assert (pd.Series(labels).groupby(frame).sum() == 4).all()  # 2 good bases x 2 versions per frame
        moved += int((labels != (df["valence"] == "good").to_numpy()).any())
    assert moved > 150


def test_bootstrap_resamples_keep_frames_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    df = _design(5, leak=0.5)
    seen = _spy(monkeypatch, "bootstrap")
    rating_effects.entanglement_estimate(df, "score", "version", n_boot=100, n_perm=20)
    frame = df["frame"].to_numpy()
    assert len(seen) == 101
    for idx in seen[1:]:
        counts = np.bincount(idx, minlength=len(df))
        per_frame = pd.Series(counts).groupby(frame).nunique()
        assert (per_frame == 1).all()  # every row of a frame drawn equally often
        assert counts.sum() == len(df)


def test_human_index_subtraction() -> None:
    df = _design(6, leak=0.8)
    human = _design(60, leak=0.8)["score"].set_axis(df.index)
    plain = rating_effects.entanglement_estimate(
        df, "score", "version", seed=1, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    shifted = rating_effects.entanglement_estimate(
        df, "score", "version", human=0.3, seed=1, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    assert shifted.estimate == pytest.approx(plain.estimate - 0.3)
    assert shifted.ci_low == pytest.approx(plain.ci_low - 0.3)
    assert (
        rating_effects.entanglement_estimate(
            df, "score", "version", human=None, seed=1, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
        )
        == plain
    )

    vs_human = rating_effects.entanglement_estimate(
        df, "score", "version", human=human, seed=1, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    expected = rating_effects.entanglement_index(df, "score", "version") - rating_effects.entanglement_index(
        df.assign(score=human), "score", "version"
    )
    assert vs_human.estimate == pytest.approx(expected)
    assert abs(vs_human.estimate) < 0.3
    assert verdicts.uninterpretable(vs_human)
    # the Series is aligned by index, not by position
    shuffled = human.sample(frac=1.0, random_state=0)
    again = rating_effects.entanglement_estimate(
        df, "score", "version", human=shuffled, seed=1, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    assert again.estimate == pytest.approx(vs_human.estimate)
    with pytest.raises(ValueError, match="missing"):
        rating_effects.entanglement_estimate(
            df, "score", "version", human=human.iloc[:-3], n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
        )


def test_logprob_adjustment_removes_a_wording_leak_and_keeps_a_moral_one() -> None:
    rng = np.random.default_rng(7)
    wording = _design(7, leak=0.0, grammar=0.0)
    good = (wording["valence"] == "good").to_numpy()
    lp = rng.normal(0, 1, len(wording)) + 1.5 * good  # good items worded more probably
    wording = wording.assign(logprob=lp, score=wording["score"] + 1.2 * lp)
    raw = rating_effects.entanglement_estimate(
        wording, "score", "version", seed=0, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    adjusted = rating_effects.logprob_adjusted_index(
        wording, "score", "version", "logprob", seed=0, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    assert raw.estimate > 0.5 and not verdicts.uninterpretable(raw)
    assert abs(adjusted.estimate) < 0.25 and verdicts.uninterpretable(adjusted)

    moral = _design(8, leak=0.8).assign(logprob=rng.normal(0, 1, len(wording)))
    moral = moral.assign(score=moral["score"] + 1.2 * moral["logprob"])
    kept = rating_effects.logprob_adjusted_index(
        moral, "score", "version", "logprob", seed=0, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    assert kept.estimate == pytest.approx(0.8 / CELL_SD, abs=0.25)
    assert kept.ci_low > 0


# -------------------------------------------------------------------------------------------- discrimination


def test_discrimination_finds_a_planted_grammaticality_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    df = _design(9, grammar=1.0)
    seen = _spy(monkeypatch, "permutation_p")
    est = rating_effects.discrimination(
        df, "score", "version", "grammatical", seed=0, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    assert est.estimate == pytest.approx(1.0 / CELL_SD, abs=0.25)
    assert est.ci_low > 0 and est.p is not None and est.p < 0.01
    assert not verdicts.uninterpretable(est)
    base = df["base"].to_numpy()
    for labels in seen:  # paired design: each base keeps one grammatical and one ungrammatical version
        assert (pd.Series(labels).groupby(base).sum() == 1).all()


def test_discrimination_among_bases_when_the_contrast_is_a_base_property(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df = _design(10, leak=1.0, grammar=0.0)
    seen = _spy(monkeypatch, "permutation_p")
    est = rating_effects.discrimination(
        df, "score", "valence", "good", seed=0, n_boot=N_RESAMPLE, n_perm=N_RESAMPLE
    )
    assert est.ci_low > 0
    base = df["base"].to_numpy()
    for labels in seen:
        assert (pd.Series(labels).groupby(base).nunique() == 1).all()


def test_null_discrimination_is_uninterpretable() -> None:
    flags = [
        verdicts.uninterpretable(
            rating_effects.discrimination(_design(s, grammar=0.0), "score", "version", "grammatical")
        )
        for s in range(20, 25)
    ]
    assert sum(flags) >= 4
    assert verdicts.uninterpretable(Estimate(0.1, -0.1, 0.3, None, 10))
    assert not verdicts.uninterpretable(Estimate(0.5, 0.1, 0.9, 0.01, 10))
    assert verdicts.uninterpretable(Estimate(float("nan"), float("nan"), float("nan"), None, 10))


# --------------------------------------------------------------------------------------- directions, cosines


def test_diff_of_means_and_cosine() -> None:
    x = np.array([[3.0, 1.0], [5.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(directions.diff_of_means(x, np.array([1, 1, 0, 0])), [1.0, 0.0])
    assert directions.cosine(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(np.sqrt(0.5))
    with pytest.raises(ValueError):
        directions.cosine(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError):
        directions.diff_of_means(x, np.ones(4, dtype=bool))


def test_quiet_direction_avoids_a_massive_dimension() -> None:
    rng = np.random.default_rng(0)
    n, d = 200, 6
    # the class difference lies on dims 0 (massive: huge variance on ordinary text) and 1 (quiet)
    labels = np.arange(n) % 2 == 0
    x = rng.standard_normal((n, d)) * 0.1
    x[labels, 0] += 2.0
    x[labels, 1] += 1.0
    reference = rng.standard_normal((2000, d))
    reference[:, 0] *= 100.0
    plain = directions.diff_of_means(x, labels)
    quiet = directions.quiet_direction(x, labels, reference, shrinkage=1e-3)
    assert abs(plain[0]) > 0.85  # the mean difference points mostly along the massive dimension
    assert abs(quiet[0]) < 0.01 and quiet[1] > 0.99  # the quiet one along the informative, quiet one
    var = np.cov(reference, rowvar=False)
    assert quiet @ var @ quiet < 0.01 * (plain @ var @ plain)
    # the closed form: with an isotropic reference it is the plain difference of means
    iso = directions.quiet_direction(x, labels, rng.standard_normal((20000, d)), shrinkage=1e-3)
    assert directions.cosine(iso, plain) > 0.99
    with pytest.raises(ValueError, match="shrinkage"):
        directions.quiet_direction(x, labels, reference, shrinkage=0.0)
    with pytest.raises(ValueError, match="reference"):
        directions.quiet_direction(x, labels, reference[:, :3])


def test_cosine_vs_null_is_exact() -> None:
    null = np.array([0.1, -0.5, 0.2, 0.05])
    b = np.array([0.15, np.sqrt(1 - 0.15**2)])
    c, p = directions.cosine_vs_null(np.array([1.0, 0.0]), b, null)
    assert c == pytest.approx(0.15)
    assert p == pytest.approx(3 / 5)  # |-0.5| and 0.2 are at least as extreme


def test_transfer_auroc_shared_and_orthogonal_directions() -> None:
    rng = np.random.default_rng(11)
    d, n, n_train = 20, 200, 4000  # a large training set: a sharp direction that barely touches v
    u, v = np.eye(d)[0], np.eye(d)[1]
    y_train = rng.random(n_train) < 0.5
    x_train = rng.standard_normal((n_train, d)) + 3.0 * np.outer(y_train, u)
    groups = np.repeat(np.arange(n // 4), 4)
    y_test = np.tile([True, False], n // 2)

    shared = directions.transfer_auroc(
        x_train,
        y_train,
        rng.standard_normal((n, d)) + 3.0 * np.outer(y_test, u),
        y_test,
        groups,
        n_boot=N_RESAMPLE,
        n_perm=N_RESAMPLE,
    )
    assert shared.estimate > 0.95 and shared.p is not None and shared.p < 0.01
    assert shared.n == n // 4

    orthogonal = directions.transfer_auroc(
        x_train,
        y_train,
        rng.standard_normal((n, d)) + 3.0 * np.outer(y_test, v),
        y_test,
        groups,
        n_boot=N_RESAMPLE,
        n_perm=N_RESAMPLE,
    )
    assert abs(orthogonal.estimate - 0.5) < 0.12
    assert orthogonal.ci_low < 0.5 < orthogonal.ci_high


# --------------------------------------------------------------------------------- matched random directions


@pytest.mark.parametrize(
    ("n_items", "which"), [(300, "random"), (300, "top"), (300, "bottom"), (20, "random"), (20, "top")]
)
def test_matched_random_directions_match_projected_variance(n_items: int, which: str) -> None:
    rng = np.random.default_rng(12)
    d = 40
    x = rng.standard_normal((n_items, d)) * np.logspace(-1, 0.5, d)
    direction = {"random": rng.standard_normal(d), "top": np.eye(d)[-1], "bottom": np.eye(d)[0]}[which]
    dirs = matched_random_directions(x, direction, 50, seed=0)
    assert dirs.shape == (50, d)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    target = np.var(x @ (direction / np.linalg.norm(direction)))
    ratio = np.var(x @ dirs.T, axis=0) / target
    assert np.all(np.abs(ratio - 1) <= 0.05)
    if which == "random":  # matching an extreme (top or bottom) axis forces every direction near it
        off_diagonal = np.abs(dirs @ dirs.T)[~np.eye(50, dtype=bool)]
        assert off_diagonal.max() < 0.99  # genuinely different directions
    again = matched_random_directions(x, direction, 50, seed=0)
    np.testing.assert_array_equal(dirs, again)


def test_matched_random_directions_impossible_raises() -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((50, 5))
    x[:, 2] = 1.0  # no variance along feature 2
    with pytest.raises(ValueError, match="projected variance"):
        matched_random_directions(x, np.eye(5)[2], 10)


# ---------------------------------------------------------------------------------------------------- repair


def test_rank_p_exact() -> None:
    null = np.array([1.0, 2.0, 3.0, 4.0])
    assert directions.rank_p(2.5, null) == pytest.approx(3 / 5)
    assert directions.rank_p(0.0, null) == pytest.approx(1 / 5)
    assert directions.rank_p(2.0, null) == pytest.approx(3 / 5)  # ties count as extreme
    assert directions.rank_p(5.0, null, alternative="greater") == pytest.approx(1 / 5)
    assert directions.rank_p(2.5, null, alternative="greater") == pytest.approx(3 / 5)
    assert directions.rank_p(0.0, null, alternative="two-sided") == pytest.approx(2 / 5)
    assert directions.rank_p(2.5, null, alternative="two-sided") == 1.0
    with pytest.raises(ValueError):
        directions.rank_p(0.0, null, alternative="both")  # type: ignore[arg-type]


def test_repair_verdict_cases() -> None:
    before = Estimate(0.5, 0.2, 0.8, 0.001, 30)
    disc = Estimate(1.0, 0.8, 1.2, 0.001, 30)
    assert verdicts.repair_verdict(before, True, disc, 1.0) == "works"
    assert verdicts.repair_verdict(before, False, disc, 1.0) == "entanglement unchanged"
    assert verdicts.repair_verdict(before, None, disc, 1.0) == "controls not computable"
    assert verdicts.repair_verdict(before, True, disc, 0.3) == "damages discrimination"
    assert verdicts.repair_verdict(Estimate(0.1, -0.1, 0.3, 0.4, 30), True, disc, 1.0) == (
        "no entanglement to repair"
    )


def test_describe_entanglement() -> None:
    assert verdicts.describe_entanglement(
        Estimate(0.42, 0.18, 0.66, 0.002, 30), "grammaticality ratings"
    ) == ("moral goodness raises grammaticality ratings (d = 0.42 [0.18, 0.66], p = 0.002)")
    assert verdicts.describe_entanglement(Estimate(-0.3, -0.5, -0.1, 0.0001, 30), "deal ratings") == (
        "moral goodness lowers deal ratings (d = -0.30 [-0.50, -0.10], p < 0.001)"
    )
    assert verdicts.describe_entanglement(Estimate(0.05, -0.1, 0.2, None, 30), "deal ratings") == (
        "moral goodness does not reliably change deal ratings (d = 0.05 [-0.10, 0.20])"
    )


def test_the_permutation_statistic_ranks_once_and_equals_the_auroc() -> None:
    from valuescope.stats import auroc

    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=40), 1)  # with ties
    statistic = directions.auroc_permutation_statistic(scores)
    for _ in range(20):
        labels = rng.permutation(np.arange(40) < 15)
        assert statistic(labels) == auroc(scores, labels) - 0.5
    assert np.isnan(statistic(np.zeros(40, dtype=bool)))
