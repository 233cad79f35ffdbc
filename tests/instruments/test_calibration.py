"""Isotonic calibration and reliability, on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.instruments.calibration import (
    IsotonicCalibration,
    expected_calibration_error,
    fit_isotonic,
    reliability,
)


def test_isotonic_maps_scores_to_the_observed_rate_and_round_trips() -> None:
    # score 0 -> label rate 0.25, score 1 -> 0.75: the map learns exactly those rates
    scores = np.repeat([[0.0], [1.0]], 4, axis=0)
    labels = np.array([[1], [0], [0], [0], [1], [1], [1], [0]], dtype=bool)
    cal = fit_isotonic(scores, labels, ["a"])
    assert cal.probabilities(np.array([[0.0], [1.0], [-5.0], [9.0]]))[:, 0].tolist() == [
        0.25,
        0.75,
        0.25,
        0.75,
    ]
    again = IsotonicCalibration.from_record(cal.as_record())
    assert again.probabilities(np.array([[0.5]]))[0, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="expected"):
        cal.probabilities(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not a calibration record"):
        IsotonicCalibration.from_record({"a": {"x": [0.0]}})


def test_reliability_of_calibrated_and_overconfident_probabilities() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    calibrated = rng.random(20000) < p
    assert expected_calibration_error(p, calibrated) < 0.02
    table = reliability(p, calibrated, bins=10)
    assert len(table) == 10 and table["n"].sum() == 20000
    assert np.allclose(table["observed"], table["mean_predicted"], atol=0.03)
    # every probability pushed to 0.9 while the truth is 0.5: ECE 0.4
    assert expected_calibration_error(np.full(1000, 0.9), np.arange(1000) % 2 == 0) == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability(np.array([1.5]), np.array([True]))


def test_the_shipped_labeller_gives_calibrated_probabilities() -> None:
    from valuescope.instruments.value_labels import HeadLabeller

    probs = HeadLabeller().category_probabilities(["We must protect forests and rivers for our children."])
    assert probs.shape == (1, 20) and ((probs >= 0) & (probs <= 1)).all()
