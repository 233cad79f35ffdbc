"""An edit against its matched controls: what can be compared, what cannot, and p-values that count ties
against the edit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import collapsed_items
from hypothesis import given, settings
from hypothesis import strategies as st

from valuescope.edit import controls as ctl
from valuescope.stats import summarize_null, tie_p
from valuescope.stats.metrics import check_metric
from valuescope.studies.indifference import geometric_repair as rep


def pole_cosine(x: np.ndarray, cls: np.ndarray) -> dict[str, float]:
    """Mean cosine of virtue and vice class means over the two foundations (lower is better)."""
    out = []
    for virtue, vice in ((0, 1), (2, 3)):
        a, b = x[cls == virtue].mean(0), x[cls == vice].mean(0)
        out.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    return {"pole_cosine": float(np.mean(out))}


def test_a_real_edit_beats_its_controls_and_a_no_op_does_not() -> None:
    x, t, _ = collapsed_items(300, seed=0)
    x_new, _, cls_new = collapsed_items(300, seed=1)
    basis = rep.subspace_basis(np.eye(12)[:4])
    fit = rep.fit_repair(x, t, np.tile(np.eye(12)[5], (5, 1)), basis, np.zeros(12), steps=400)
    effect = rep.displacement(fit, x_new)
    rng = np.random.default_rng(0)
    controls = []
    for _ in range(19):
        moved = rep.in_subspace(fit, ctl.covariance_basis(x, fit.k, rng))
        controls.append(rep.at_displacement(moved, x_new, effect))
    effects = [rep.displacement(c, x_new) for c in controls]
    assert effects == pytest.approx([effect] * 19, rel=1e-9)

    def score(edit: rep.Repair) -> dict[str, float]:
        return pole_cosine(edit.apply(x_new), cls_new)

    identity = rep.Repair(basis, np.eye(4), np.zeros(12), 0.0, 0.0, 0.0)
    common = {"better": {"pole_cosine": "lower"}, "describe": "19 random subspaces", "min_effect": 1e-9}
    real = ctl.score_against_controls(
        score, identity, fit, controls, edit_effect=effect, control_effects=effects, **common
    )["pole_cosine"]
    assert real.computable and real.beats
    assert real.p == pytest.approx(1 / 20)
    assert real.change is not None and real.change < -0.3
    entry = real.null_metric(layer=3)
    check_metric("random_edit_pole_cosine", entry, "test")
    assert "19 draws" in entry["note"] and "SD" in entry["note"]

    no_op = ctl.score_against_controls(
        score, identity, identity, controls, edit_effect=rep.displacement(identity, x_new), **common
    )["pole_cosine"]
    assert not no_op.computable and not no_op.beats
    assert "moved nothing" in no_op.verdict()


def test_a_rank_one_subspace_cannot_be_repaired_and_is_not_computable() -> None:
    x, t, _ = collapsed_items(100, seed=2)
    basis = rep.subspace_basis(np.eye(12)[:1])
    fit = rep.fit_repair(x, t, x[:5], basis, np.zeros(12), steps=100)
    assert fit.k == 1
    # a one-dimensional edit cannot change a scale-free similarity structure: the fit stays at the
    # identity up to optimiser noise, which must not count as an edit
    scale = float(np.linalg.norm(x, axis=1).mean())
    assert rep.displacement(fit, x) < 1e-4 * scale
    assert ctl.edit_moved_nothing(rep.displacement(fit, x), min_effect=1e-4 * scale) is not None
    reason = ctl.edit_moved_nothing(rep.displacement(fit, x), rank=fit.k)
    assert reason is not None and "rank 1 < 2" in reason
    got = ctl.against_controls(0.3, [0.1, 0.2, 0.0], better="higher", controls="c", rank=fit.k)
    assert not got.computable and not got.beats and got.p is None
    entry = got.null_metric()
    assert entry["estimate"] is None and "rank 1" in entry["note"]
    check_metric("random_edit_x", entry, "test")


def test_a_zero_norm_fit_moved_nothing() -> None:
    basis = rep.subspace_basis(np.eye(6)[:3])
    identity = rep.Repair(basis, np.eye(3), np.zeros(6), 1.0, 1.0, 0.0)
    assert identity.norm == 0.0
    x = np.random.default_rng(0).standard_normal((20, 6))
    effect = rep.displacement(identity, x)
    assert effect == 0.0
    got = ctl.against_controls(
        1e-17, np.linspace(-1, 1, 30), better="higher", controls="c", edit_effect=effect
    )
    assert not got.computable and "moved nothing" in str(got.reason)
    with pytest.raises(ValueError, match="does not move"):
        rep.at_displacement(identity, x, 1.0)


def test_controls_that_cannot_move_the_metric_are_not_computable() -> None:
    # every control changes the metric by the same amount (here: not at all): a null without spread
    got = ctl.against_controls(0.2, [0.0] * 20, better="higher", controls="20 no-op edits", edit_effect=1.0)
    assert not got.computable and "no spread" in str(got.reason)
    assert got.null_metric()["estimate"] is None
    # controls whose effect on the rows is nil
    still = ctl.against_controls(
        0.2,
        np.linspace(0, 0.1, 20),
        better="higher",
        controls="c",
        edit_effect=1.0,
        control_effects=[0.0] * 20,
    )
    assert not still.computable and "cannot move" in str(still.reason)
    # controls not matched on the edit's effect
    unmatched = ctl.against_controls(
        0.2,
        np.linspace(0, 0.1, 20),
        better="higher",
        controls="c",
        edit_effect=1.0,
        control_effects=[2.0] * 20,
    )
    assert not unmatched.computable and "not matched" in str(unmatched.reason)
    # a single draw is not a null
    single = ctl.against_controls(0.2, [0.1], better="higher", controls="c")
    assert not single.computable and "at least 2" in str(single.reason)


def test_tied_nulls_count_against_the_edit() -> None:
    null = np.array([0.5, 0.5, 0.5, 0.1])
    assert tie_p(0.5, null, alternative="greater") == pytest.approx(4 / 5)
    assert tie_p(0.5 + 1e-15, null, alternative="greater") == pytest.approx(4 / 5)  # noise is a tie
    assert tie_p(0.5, null, alternative="less") == pytest.approx(5 / 5)
    assert tie_p(0.6, null, alternative="greater") == pytest.approx(1 / 5)
    assert tie_p(-0.5, null, alternative="two-sided") == pytest.approx(4 / 5)
    # the repair's original failure: 20 equal controls and an edit that matches them up to an ulp
    same = np.full(20, 0.04161891774240937)
    assert tie_p(0.04161891774240936, same, alternative="greater") == 1.0
    with pytest.raises(ValueError, match="not finite"):
        tie_p(0.1, [np.nan, 0.2])


def test_few_draws_are_stated_and_never_beat() -> None:
    got = ctl.against_controls(5.0, [0.0, 0.1, 0.2, 0.3], better="higher", controls="4 controls")
    assert got.computable and got.p == pytest.approx(1 / 5) and not got.beats
    assert "cannot fall below 0.200" in got.note()
    assert got.verdict().startswith("undecided")
    excess = got.excess_metric()
    check_metric("gap_change_vs_random", excess, "test")
    assert excess["estimate"] == pytest.approx(5.0 - 0.15) and excess["better"] == "higher"
    assert ctl.draws_needed(0.05) == 19 and ctl.draws_needed(0.01) == 99


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.booleans(),
)
def test_intervals_contain_their_estimates(values: list[float], change: float, equal: bool) -> None:
    draws = [values[0]] * len(values) if equal else values
    s = summarize_null(draws)
    assert s.low <= s.median <= s.high
    got = ctl.against_controls(change, draws, better="lower", controls="c")
    entry = got.null_metric()
    check_metric("random_edit_x", entry, "property")
    if got.computable:
        assert entry["ci_low"] <= entry["estimate"] <= entry["ci_high"]
        assert 1 / (1 + len(draws)) <= entry["p"] <= 1.0
    else:
        assert entry["estimate"] is None and not got.beats


def test_covariance_directions_follow_the_data_not_the_sphere() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    x = rng.standard_normal((500, 8)) * scales
    dirs = ctl.covariance_directions(x, 2000, np.random.default_rng(1))
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    # along the high-variance axis far more often than a uniform direction (E[u_0^2] = 1/8)
    assert float((dirs[:, 0] ** 2).mean()) > 0.6
    basis = ctl.covariance_basis(x, 3, np.random.default_rng(2))
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-10)
    with pytest.raises(ValueError, match="no variance"):
        ctl.covariance_directions(np.ones((5, 3)), 2, rng)


def test_permuted_targets_keep_groups_together() -> None:
    groups = np.array(["a", "a", "b", "b", "b", "c"])
    values = np.array([[1.0], [1.0], [2.0], [2.0], [2.0], [3.0]])
    for seed in range(5):
        got = ctl.permute_groups(values, groups, np.random.default_rng(seed))[:, 0]
        for g in "abc":
            assert len(set(got[groups == g])) == 1
        assert sorted(set(got)) == [1.0, 2.0, 3.0]


def test_match_scale_finds_the_effect() -> None:
    scale = ctl.match_scale(lambda s: 3.0 * s**2, 12.0)
    assert 3.0 * scale**2 == pytest.approx(12.0, rel=0.02)
    with pytest.raises(ValueError, match="reaches an effect of only"):
        ctl.match_scale(lambda s: min(s, 1.0), 5.0, max_steps=5)
    with pytest.raises(ValueError, match="moved nothing"):
        ctl.match_scale(lambda s: s, 0.0)


def test_a_cosine_null_from_anisotropic_data_is_wider_than_the_isotropic_one() -> None:
    rng = np.random.default_rng(3)
    scales = np.concatenate([[20.0, 10.0], np.ones(62)])
    x = rng.standard_normal((400, 64)) * scales
    null = ctl.covariance_cosine_null(x, 2000, np.random.default_rng(4))
    isotropic_sd = 1 / np.sqrt(64)
    assert null.std() > 3 * isotropic_sd
    assert np.all(np.abs(null) <= 1.0 + 1e-12)
