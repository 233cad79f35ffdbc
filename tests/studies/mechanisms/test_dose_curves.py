"""The dose-response ladder on edits with known damage and effect: the strengths it picks, the
interpolation at equal damage, the cap, and the values it reads."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.studies.mechanisms.dose_curves import Ladder, Reading, at_levels, read_ladder
from valuescope.studies.mechanisms.dose_response import dose_values


def quadratic(c: float, slope: np.ndarray):  # type: ignore[no-untyped-def]
    """An edit whose KL is c * alpha^2 and whose rating change is slope * alpha."""

    def damage(alpha: float) -> dict[str, float]:
        kl = c * alpha**2
        return {"kl_mean": kl, "kl_ci_low": 0.9 * kl, "kl_ci_high": 1.1 * kl, "ppl_ratio": 1.0 + kl}

    def read(alpha: float) -> tuple[dict[str, float], np.ndarray]:
        return damage(alpha), slope * alpha

    return read, damage


def test_a_quadratic_edit_reaches_every_level_exactly() -> None:
    read, probe = quadratic(0.5, np.array([1.0, -2.0]))
    ladder = read_ladder(read, probe, start=0.3, levels=[0.5, 2.0, 8.0], alpha_max=100)
    assert not ladder.capped
    assert [r.kl for r in ladder.readings] == pytest.approx([0.5, 2.0, 8.0])
    assert [r.alpha for r in ladder.readings] == pytest.approx([1.0, 2.0, 4.0])
    assert ladder.largest.kl == pytest.approx(8.0)


def test_the_cap_stops_the_ladder_and_says_so() -> None:
    read, probe = quadratic(0.5, np.array([1.0]))
    ladder = read_ladder(read, probe, start=1.0, levels=[0.5, 2.0, 8.0], alpha_max=2.5)
    assert ladder.capped
    assert [r.alpha for r in ladder.readings] == pytest.approx([1.0, 2.0, 2.5])


def test_an_edit_that_does_no_damage_is_pushed_to_the_cap() -> None:
    read, probe = quadratic(0.0, np.array([0.0]))
    ladder = read_ladder(read, probe, start=1.0, levels=[0.5, 1.0, 2.0], alpha_max=16)
    assert [r.alpha for r in ladder.readings] == pytest.approx([4.0, 16.0])  # x4 per step, then the cap
    assert ladder.capped


@pytest.mark.parametrize("levels", [[], [1.0, 0.5], [0.0, 1.0], [1.0, 1.0]])
def test_levels_must_be_positive_and_ascending(levels: list[float]) -> None:
    read, probe = quadratic(1.0, np.array([1.0]))
    with pytest.raises(ValueError, match="ascending"):
        read_ladder(read, probe, start=1.0, levels=levels, alpha_max=10)


def reading(kl: float, delta: list[float]) -> Reading:
    return Reading(alpha=kl, kl=kl, kl_low=kl, kl_high=kl, ppl_ratio=1.0, delta=np.array(delta))


def test_changes_are_interpolated_linearly_in_kl_from_the_unedited_model() -> None:
    ladder = Ladder((reading(2.0, [2.0, 4.0]), reading(1.0, [1.0, 0.0])), capped=False)
    got = at_levels(ladder, [0.5, 1.0, 1.5, 2.0], tolerance=0.0)
    np.testing.assert_allclose(got, [[0.5, 0.0], [1.0, 0.0], [1.5, 2.0], [2.0, 4.0]])


def test_a_level_beyond_reach_is_not_extrapolated() -> None:
    ladder = Ladder((reading(1.0, [1.0]),), capped=True)
    got = at_levels(ladder, [1.2, 2.0], tolerance=0.35)
    assert got[0, 0] == pytest.approx(1.0)  # within tolerance: taken at the largest reading
    assert np.isnan(got[1, 0])


def test_dose_values_spread_over_the_steered_values() -> None:
    steered = [f"v{i}" for i in range(10)]
    assert dose_values(steered, 5) == ["v0", "v2", "v4", "v6", "v8"]
    assert dose_values(steered[:3], 5) == steered[:3]
