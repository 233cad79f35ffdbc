"""Linear heads: trained on known-separable data, saved and loaded exactly; the shipped heads' records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from valuescope.instruments.heads import LinearHead, fit_logistic, shipped_head
from valuescope.stats import auroc


def test_a_head_separates_what_is_separable_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0.5])
    head = fit_logistic(X, Y, ["a", "b"], encoder="minilm", record={"dataset": "synthetic"})
    scores = head.scores(X)
    assert auroc(scores[:, 0], Y[:, 0]) > 0.99 and auroc(scores[:, 1], Y[:, 1]) > 0.99
    loaded = LinearHead.load(head.save(tmp_path / "h.safetensors"))
    assert loaded.dimensions == ["a", "b"] and loaded.encoder == "minilm"
    assert loaded.record == {"dataset": "synthetic", "C": 0.5, "class_weight": "balanced"}
    np.testing.assert_allclose(loaded.scores(X), scores, rtol=1e-5, atol=1e-5)  # stored as float32


def test_bad_heads_and_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only one class"):
        fit_logistic(np.zeros((4, 2)), np.ones((4, 1)), ["a"], encoder="minilm")
    head = LinearHead("minilm", ["a"], np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(ValueError, match="3-dimensional minilm embeddings"):
        head.scores(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="needs weight"):
        LinearHead("minilm", ["a", "b"], np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(FileNotFoundError, match="instruments train"):
        shipped_head("no-such-head")


def test_the_shipped_heads_say_what_they_were_trained_on() -> None:
    labeller = shipped_head("touche23-minilm")
    assert len(labeller.dimensions) == 20 and labeller.weight.shape == (20, 384)
    assert labeller.record["split"] == "training" and labeller.record["rows"] == 5393
    assert set(labeller.record["files"]) == {"arguments-training.tsv", "labels-training.tsv"}
    polarity = shipped_head("valuebench-polarity-minilm")
    assert polarity.dimensions == ["affirms"] and polarity.weight.shape == (1, 3 * 384)
    assert polarity.record["rows"] == 1988
