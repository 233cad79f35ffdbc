"""The circle fit of steering side effects: planted cosines recovered, r2, NaN and constant input, the item
bootstrap summary, the null comparison and the circularity of a correlation matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.studies.atlas.circle_fit import (
    CosineFit,
    circle_angles,
    circle_side_effects,
    fit_cosine,
    human_circle_fit,
    null_compare,
    signed_amplitude,
)

THETA = circle_angles()


def cosine(steered: int, amplitude: float, phase: float, offset: float = 0.0) -> np.ndarray:
    return offset + amplitude * np.cos(THETA - THETA[steered] - phase)


def test_circle_angles_are_equal_steps_in_value_order() -> None:
    assert np.allclose(THETA, 2 * np.pi * np.arange(10) / 10)
    assert np.allclose(circle_angles(["Power", "self_direction"]), [2 * np.pi * 4 / 10, 0.0])


@pytest.mark.parametrize("steered", [0, 3, 7, 9])
@pytest.mark.parametrize("phase", [0.0, 0.7, -1.9, math.pi - 1e-6, -math.pi + 1e-6, math.pi])
def test_planted_cosine_recovered_exactly(steered: int, phase: float) -> None:
    fit = fit_cosine(cosine(steered, 0.8, phase, offset=-0.3), steered)
    assert fit.amplitude == pytest.approx(0.8, abs=1e-12)
    assert math.cos(fit.phase - phase) == pytest.approx(1.0, abs=1e-12)  # same angle mod 2*pi
    assert -math.pi < fit.phase <= math.pi
    assert fit.offset == pytest.approx(-0.3, abs=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert signed_amplitude(fit) == pytest.approx(0.8 * math.cos(phase), abs=1e-12)


def test_negative_cosine_coefficient_is_phase_pi() -> None:
    # change = -0.5 cos(theta - theta_s): a = -0.5, b = 0 -> amplitude 0.5 at phase pi, signed -0.5
    fit = fit_cosine(-0.5 * np.cos(THETA - THETA[2]), 2)
    assert fit.amplitude == pytest.approx(0.5)
    assert fit.phase == pytest.approx(math.pi)
    assert signed_amplitude(fit) == pytest.approx(-0.5)


def test_noisy_cosine_recovered_within_tolerance() -> None:
    rng = np.random.default_rng(1)
    fits = [fit_cosine(cosine(4, 1.0, 0.5) + rng.normal(0, 0.1, 10), 4) for _ in range(200)]
    assert np.mean([f.amplitude for f in fits]) == pytest.approx(1.0, abs=0.03)
    assert np.mean([f.phase for f in fits]) == pytest.approx(0.5, abs=0.03)
    assert min(f.r2 for f in fits) > 0.8


def test_r2_near_zero_for_random_patterns() -> None:
    rng = np.random.default_rng(2)
    r2 = [fit_cosine(rng.normal(size=10), 0).r2 for _ in range(2000)]
    # two regressors beyond the offset on 9 residual df: E[r2] = 2/9 under pure noise
    assert np.mean(r2) == pytest.approx(2 / 9, abs=0.02)
    assert np.mean(r2) < 0.3


def test_nan_entries_are_left_out() -> None:
    y = cosine(1, 0.6, -0.4, offset=0.2)
    y[[0, 5, 8]] = np.nan
    fit = fit_cosine(y, 1)
    assert (fit.amplitude, fit.phase, fit.offset) == pytest.approx((0.6, -0.4, 0.2))
    y[[1, 2, 3, 4]] = np.nan  # three finite left
    with pytest.raises(ValueError, match=r"3 finite entries; the fit needs >= 4"):
        fit_cosine(y, 1)


def test_constant_changes_give_zero_amplitude_and_r2() -> None:
    assert fit_cosine(np.full(10, 0.25), 6) == CosineFit(amplitude=0.0, phase=0.0, r2=0.0, offset=0.25)
    assert fit_cosine(np.zeros(10), 0).amplitude == 0.0


def test_fit_validation_messages() -> None:
    with pytest.raises(ValueError, match=r"changes must have shape \(10,\)"):
        fit_cosine(np.zeros(9), 0)
    with pytest.raises(ValueError, match=r"steered must be an integer index in 0\.\.9, got 10"):
        fit_cosine(np.zeros(10), 10)
    with pytest.raises(ValueError, match="steered must be an integer index"):
        fit_cosine(np.zeros(10), -1)
    with pytest.raises(ValueError, match="angles must be a 1-D array"):
        fit_cosine(np.zeros(10), 0, angles=np.zeros((2, 5)))


def planted_items(
    amplitude: float, phase: float, noise: float, per_value: int = 6, seed: int = 0
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Ten edits (one per steered value) x items: each item's change is its value's cosine plus noise."""
    rng = np.random.default_rng(seed)
    item_value = np.repeat(np.arange(10), per_value)
    steered = list(range(10))
    rows = [cosine(s, amplitude, phase)[item_value] for s in steered]
    return np.array(rows) + rng.normal(0, noise, (10, len(item_value))), steered, item_value


def test_side_effects_recover_planted_amplitude_and_phase() -> None:
    changes, steered, item_value = planted_items(0.5, 0.0, noise=0.2)
    out = circle_side_effects(changes, steered, item_value, n_boot=200, seed=0)
    amp = out.amplitude
    assert amp.ci_low <= 0.5 <= amp.ci_high
    assert amp.ci_low <= amp.estimate <= amp.ci_high and amp.n == 60 and amp.p is None
    assert abs(out.phase_deg.estimate) < 5.0
    assert out.phase_deg.ci_low <= 0.0 <= out.phase_deg.ci_high
    assert out.phase_rad.estimate == pytest.approx(math.radians(out.phase_deg.estimate))
    assert out.signed_amplitude.ci_low <= 0.5 <= out.signed_amplitude.ci_high
    assert out.r2.estimate > 0.8
    fits = out.fits
    assert list(fits["steered"]) == list(SCHWARTZ_VALUES)
    assert list(fits.columns[:5]) == ["steered", "amplitude", "phase_deg", "r2", "signed_amplitude"]
    assert list(fits.columns[5:]) == list(SCHWARTZ_VALUES)
    assert out.amplitude.estimate == pytest.approx(fits["amplitude"].mean())
    # per-value columns are the item means: the steered value's own change is near +0.5
    assert np.diag(fits[list(SCHWARTZ_VALUES)].to_numpy()) == pytest.approx(np.full(10, 0.5), abs=0.2)

    null = np.array(
        [
            circle_side_effects(*planted_items(0.0, 0.0, noise=0.2, seed=s), n_boot=1).amplitude.estimate
            for s in range(1, 20)
        ]
    )
    excess, p = null_compare(amp.estimate, null)
    assert excess > 0.3
    assert p == pytest.approx(1 / 20)


def test_side_effects_phase_interval_unwrapped_near_180() -> None:
    changes, steered, item_value = planted_items(0.5, math.pi, noise=0.3)
    out = circle_side_effects(changes, steered, item_value, n_boot=200)
    assert abs(abs(out.phase_deg.estimate) - 180.0) < 10.0
    assert out.phase_deg.ci_high - out.phase_deg.ci_low < 60.0  # no spurious -180..180 interval
    assert out.signed_amplitude.ci_high < 0


def test_side_effects_nan_items_and_groups() -> None:
    changes, steered, item_value = planted_items(0.5, 0.3, noise=0.05)
    changes[0, :3] = np.nan  # part of one value's items missing for one edit
    groups = np.arange(60) // 2  # pairs of items within a value move together
    out = circle_side_effects(changes, steered, item_value, groups=groups, n_boot=100)
    assert out.amplitude.n == 30
    assert out.phase_rad.estimate == pytest.approx(0.3, abs=0.05)


def test_side_effects_validation_messages() -> None:
    changes, steered, item_value = planted_items(0.5, 0.0, noise=0.1)
    with pytest.raises(ValueError, match=r"changes must be a non-empty 2-D array"):
        circle_side_effects(changes[0], steered, item_value)
    with pytest.raises(ValueError, match="steered has 9 entries but changes has 10 rows"):
        circle_side_effects(changes, steered[:9], item_value)
    with pytest.raises(ValueError, match=r"steered must be an integer index in 0\.\.9, got 12"):
        circle_side_effects(changes, [*steered[:9], 12], item_value)
    with pytest.raises(ValueError, match=r"item_value must have shape \(60,\)"):
        circle_side_effects(changes, steered, item_value[:-1])
    with pytest.raises(ValueError, match=r"integer value indices in 0\.\.9"):
        circle_side_effects(changes, steered, item_value + 1)
    sparse = changes.copy()
    sparse[4, item_value >= 3] = np.nan  # edit steering power keeps three values
    with pytest.raises(ValueError, match=r"edits steering \['power'\] have fewer than 4 values"):
        circle_side_effects(sparse, steered, item_value)


def test_null_compare_excess_and_plus_one_p() -> None:
    excess, p = null_compare(0.5, np.array([0.1, 0.2, 0.3, 0.6]))
    assert excess == pytest.approx(0.25)
    assert p == pytest.approx((1 + 1) / 5)
    assert null_compare(0.3, np.array([0.3, 0.3]))[1] == pytest.approx(1.0)  # ties count against
    with pytest.raises(ValueError):
        null_compare(0.3, np.array([0.1, np.nan]))


def test_human_circle_fit() -> None:
    steps = np.abs(np.arange(10)[:, None] - np.arange(10)[None, :])
    perfect = np.cos(2 * np.pi * np.minimum(steps, 10 - steps) / 10)
    assert human_circle_fit(perfect) == pytest.approx(1.0)
    assert human_circle_fit(0.3 * perfect + 0.1) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    scores = []
    for _ in range(20):
        order = rng.permutation(10)
        scores.append(human_circle_fit(perfect[np.ix_(order, order)]))
    assert max(scores) < 1.0 and np.mean(scores) < 0.5
    assert math.isnan(human_circle_fit(np.eye(10)))  # constant off-diagonal entries
    with pytest.raises(ValueError, match=r"10x10 matrix"):
        human_circle_fit(np.eye(9))
    asym = perfect.copy()
    asym[0, 1] += 0.5
    with pytest.raises(ValueError, match="symmetric"):
        human_circle_fit(asym)
