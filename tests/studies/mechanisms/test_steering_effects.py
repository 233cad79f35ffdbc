"""Steering effects: self-rating shifts, neighbour response and text diversity, by hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.studies.mechanisms.circumplex_geometry import circumplex_theory
from valuescope.studies.mechanisms.steering_effects import (
    distinct_n,
    embedding_diversity,
    neighbour_response,
    steering_shift,
    value_deltas,
)

# ------------------------------------------------------------------------------------------------ steering

ITEMS = np.array(["A", "A", "A", "B", "B", "C"])
DELTA = np.array([1.0, 2.0, 3.0, 0.0, 0.0, 3.0])  # means: A 2, B 0, C 3


def test_value_deltas_are_per_value_means_in_order() -> None:
    np.testing.assert_allclose(value_deltas(DELTA, ITEMS, ["C", "A", "B"]), [3.0, 2.0, 0.0])
    with pytest.raises(ValueError, match=r"no items measure \['D'\]"):
        value_deltas(DELTA, ITEMS, ["A", "D"])


def test_steering_shift_weighs_every_other_value_equally() -> None:
    assert steering_shift(DELTA, ITEMS, "A") == pytest.approx(2.0 - (0.0 + 3.0) / 2)  # not 2 - 1
    assert steering_shift(DELTA, ITEMS, "B") == pytest.approx(0.0 - 2.5)
    with pytest.raises(ValueError, match="no items measure the target 'D'"):
        steering_shift(DELTA, ITEMS, "D")
    with pytest.raises(ValueError, match="other values"):
        steering_shift(DELTA[:3], ITEMS[:3], "A")
    with pytest.raises(ValueError, match="one value per item"):
        steering_shift(DELTA, ITEMS[:5], "A")


def test_neighbour_response_on_constructed_profiles() -> None:
    closeness = circumplex_theory(10)[3]
    profile = 2.0 * closeness + 1.0
    profile[3] = 100.0  # the target's own delta is left out
    assert neighbour_response(profile, 3) == pytest.approx(1.0)
    assert neighbour_response(-profile, 3) == pytest.approx(-1.0)
    assert np.isnan(neighbour_response(np.ones(10), 3))
    with pytest.raises(ValueError, match="target_index"):
        neighbour_response(profile, 10)
    with pytest.raises(ValueError, match="at least 4"):
        neighbour_response(np.arange(3.0), 0)


# ----------------------------------------------------------------------------------------------- diversity


def test_distinct_n_hand_counts() -> None:
    texts = ["The cat sat.", "the cat ran"]
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)  # the-cat twice, cat-sat, cat-ran
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)
    assert distinct_n(["a b", "a b"], 2) == pytest.approx(1 / 2)  # no "b a" across the texts
    assert distinct_n(["Don't stop", "don't STOP!"], 1) == pytest.approx(2 / 4)  # don't is one word


def test_distinct_n_errors() -> None:
    with pytest.raises(ValueError, match="no word 2-grams"):
        distinct_n(["don't", ""], 2)
    with pytest.raises(ValueError, match="not one string"):
        distinct_n("a b c", 2)


def test_embedding_diversity_known_values() -> None:
    e = np.array([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]])  # pair distances 1, 2, 1
    assert embedding_diversity(e) == pytest.approx(4 / 3)
    assert embedding_diversity(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        embedding_diversity(np.ones((1, 3)))


def test_steering_shifts_gives_each_row_its_own_target_and_nan_for_an_unread_row() -> None:
    from valuescope.studies.mechanisms.steering_effects import steering_shifts

    items = ["a", "a", "b", "c"]
    delta = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [np.nan, 0.0, 0.0, 0.0]])
    got = steering_shifts(delta, items, ["a", "b", "c"])
    assert got[0] == pytest.approx(1.0)  # a's items +1, b and c unchanged
    assert got[1] == pytest.approx(2.0)  # b +2 against a and c, both unchanged
    assert np.isnan(got[2])
