"""Value labellers: the embedding labeller on real ValuePortrait responses, label fallback, the judge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuescope.data.valueportrait import VALUEPORTRAIT_RESPONSES, load_valueportrait_responses
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.instruments.value_labels import (
    EmbeddingLabeller,
    JudgeLabeller,
    binary_labels,
    valueportrait_agreement,
)


def test_embedding_labeller_scores_a_value_laden_answer_highest_for_its_value() -> None:
    answers = [
        "Save part of every pay cheque and keep an emergency fund, so you are safe if you lose your job.",
        "Go for it: try the new city, take the trip, do something exciting you have never done before.",
        "Volunteer at the food bank and check on your elderly neighbours; caring for others matters most.",
    ]
    scores = EmbeddingLabeller().scores(["?"] * 3, answers)
    best = [SCHWARTZ_VALUES[j] for j in scores.argmax(1)]
    assert best[0] == "security"
    assert best[1] == "stimulation"
    assert best[2] == "benevolence"
    assert np.allclose(scores.mean(1), 0.0)


def test_binary_labels_fall_back_to_the_top_scores_when_too_few_reach_the_threshold() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 0.01, (40, 10))
    scores[:12, 0] = 0.2  # value 0 has 12 clear positives
    got = binary_labels(scores, threshold=0.1, min_positive=5)
    assert got.labels[:, 0].sum() == 12 and not got.fallback[SCHWARTZ_VALUES[0]]
    assert got.fallback[SCHWARTZ_VALUES[1]] and got.labels[:, 1].sum() == 5
    top5 = set(np.argsort(-scores[:, 1])[:5])
    assert set(np.flatnonzero(got.labels[:, 1])) == top5


def test_binary_labels_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="min_positive"):
        binary_labels(np.zeros((6, 10)), 0.1, min_positive=4)
    with pytest.raises(ValueError, match="NaN"):
        binary_labels(np.full((10, 10), np.nan), 0.1, min_positive=2)
    with pytest.raises(ValueError, match=r"\(n, 10\)"):
        binary_labels(np.zeros((10, 3)), 0.1, min_positive=2)


def test_agreement_is_perfect_for_the_correlations_themselves_and_chance_for_noise() -> None:
    rng = np.random.default_rng(1)
    corr = rng.uniform(-0.6, 0.6, (200, 10))
    portrait = pd.DataFrame(corr, columns=list(SCHWARTZ_VALUES)).assign(query_id=np.repeat(np.arange(40), 5))
    perfect, table = valueportrait_agreement(corr, portrait, n_boot=100)
    assert perfect.estimate == pytest.approx(1.0) and perfect.p is not None and perfect.p < 0.05
    assert len(table) == 10
    noise, _ = valueportrait_agreement(rng.normal(size=(200, 10)), portrait, n_boot=100)
    assert abs(noise.estimate - 0.5) < 0.1 and noise.ci_low < 0.5 < noise.ci_high


def test_embedding_labeller_agrees_with_valueportrait(shared_data: Path) -> None:
    """The offline default against 569-person-validated tags (measured: see the closing note)."""
    portrait = load_valueportrait_responses(shared_data / VALUEPORTRAIT_RESPONSES)
    labeller = EmbeddingLabeller()
    scores = labeller.scores(list(portrait["query"]), list(portrait["response"]))
    est, table = valueportrait_agreement(scores, portrait, n_boot=200)
    assert est.ci_low > 0.5 and est.p is not None and est.p < 0.05, table
    # the documented threshold keeps a minority of responses per value
    share = (scores >= labeller.threshold).mean(0)
    assert 0.03 < share.mean() < 0.5, share


class _FakeJudge:
    name = "fake"

    def rate(self, prompts: list[str], options: list[str], **_: object) -> pd.DataFrame:
        yes = [0.9 if "Power" in p and "money" in p else 0.1 for p in prompts]
        return pd.DataFrame({"p_Yes": yes, "p_No": [1 - y for y in yes]})


def test_judge_labeller_asks_once_per_value_and_reads_p_yes() -> None:
    judge = JudgeLabeller(_FakeJudge())
    scores = judge.scores(["q", "q"], ["Make more money.", "Rest well."])
    assert scores.shape == (2, 10)
    assert scores[0, SCHWARTZ_VALUES.index("power")] == pytest.approx(0.9)
    assert scores[1].max() == pytest.approx(0.1)
    with pytest.raises(TypeError, match="rate"):
        JudgeLabeller(object())
