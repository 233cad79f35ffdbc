"""The polarity scorer: pair features, the shipped head, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.instruments.polarity import PolarityScorer, pair_features


def test_pair_features_are_the_text_the_product_and_the_distance() -> None:
    t, v = np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])
    assert pair_features(t, v).tolist() == [[1.0, 0.0, 0.5, 0.0, 0.5, 0.5]]
    with pytest.raises(ValueError, match="differ"):
        pair_features(t, np.zeros((2, 2)))


def test_the_shipped_scorer_gives_one_logit_per_pair() -> None:
    scorer = PolarityScorer()
    out = scorer.scores(["I like to help the people around me.", "Helping others is a waste of time."],
                        ["Benevolence", "Benevolence"])  # fmt: skip
    assert out.shape == (2,) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="one value per text"):
        scorer.scores(["a"], ["x", "y"])
