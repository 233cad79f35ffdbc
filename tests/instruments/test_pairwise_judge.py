"""Pairwise judge: position swap, the usability gate on authored pairs, and the study's win rate."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuescope.data.csvfile import StimulusError
from valuescope.instruments.pairwise_judge import (
    JUDGE_PROMPT,
    PREFERENCE_COLUMNS,
    GateResult,
    PairwiseJudge,
    judge_gate,
    load_judge_pairs,
    win_rate,
)

_SHOWN = re.compile(r"Response A: (?P<a>.*)\n\nResponse B: (?P<b>.*)\n\nWhich response", re.S)


def _responses(prompt: str) -> tuple[str, str]:
    m = _SHOWN.search(prompt)
    assert m is not None, prompt
    return m["a"], m["b"]


class _Judge:
    """A fake judge: ``pick(a, b)`` gives P(A) for each prompt; records what it was asked."""

    name = "fake"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.batch_sizes: list[int] = []

    def pick(self, a: str, b: str) -> float:
        raise NotImplementedError

    def rate(self, prompts: Sequence[str], options: Sequence[str], batch_size: int = 32) -> pd.DataFrame:
        assert list(options) == ["A", "B"]
        self.asked.extend(prompts)
        self.batch_sizes.append(batch_size)
        p = np.array([self.pick(*_responses(t)) for t in prompts])
        return pd.DataFrame({"prompt": list(prompts), "p_A": p, "p_B": 1 - p})


class AlwaysA(_Judge):
    def pick(self, a: str, b: str) -> float:
        return 0.9


class Oracle(_Judge):
    def __init__(self, better: set[str]) -> None:
        super().__init__()
        self.better = better

    def pick(self, a: str, b: str) -> float:
        return 0.8 if a in self.better else 0.2


class Longer(_Judge):
    def pick(self, a: str, b: str) -> float:
        return 0.7 if len(a) > len(b) else 0.3


def test_the_shipped_pairs_are_balanced_so_length_cannot_decide() -> None:
    pairs = load_judge_pairs()
    assert len(pairs) == 24 and pairs["pair_id"].is_unique and pairs["prompt"].is_unique
    better, worse = pairs["better"].str.len(), pairs["worse"].str.len()
    ratio = np.maximum(better, worse) / np.minimum(better, worse)
    assert ratio.max() <= 1.3
    assert int((better > worse).sum()) == 12
    assert pairs["failure"].nunique() >= 4


def test_prefer_asks_each_pair_in_both_orders_and_cuts_long_responses() -> None:
    judge = AlwaysA()
    prefs = PairwiseJudge(judge, batch_size=3, max_chars=10).prefer(["q"], ["first answer, long"], ["second"])
    assert list(prefs.columns) == list(PREFERENCE_COLUMNS)
    assert len(judge.asked) == 2 and judge.batch_sizes == [3]
    assert _responses(judge.asked[0]) == ("first answ...", "second")
    assert _responses(judge.asked[1]) == ("second", "first answ...")
    assert judge.asked[0] == JUDGE_PROMPT.format(prompt="q", a="first answ...", b="second")
    assert judge.asked[0].endswith("Answer A or B.\nAnswer:")
    row = prefs.iloc[0]
    assert row["p_first_ab"] == pytest.approx(0.9) and row["p_first_ba"] == pytest.approx(0.1)
    assert row["p_first"] == pytest.approx(0.5)
    assert not row["consistent"] and row["choice"] == "tie"


def test_a_judge_that_always_answers_a_fails_the_gate_with_zero_consistency() -> None:
    result = judge_gate(PairwiseJudge(AlwaysA()), chunk=None)
    assert isinstance(result, GateResult) and not result.passed
    assert result.consistency == 0.0 and result.accuracy == 0.0 and result.n_pairs == 24
    assert "consistency 0.00 < 0.80" in result.reason and "accuracy 0.00 < 0.75" in result.reason


def test_the_gate_stops_once_a_threshold_is_out_of_reach_with_the_same_verdict() -> None:
    asked: list[int] = []

    class Counting(AlwaysA):
        def rate(self, prompts: Sequence[str], options: Sequence[str], batch_size: int = 32) -> pd.DataFrame:
            asked.append(len(prompts))
            return super().rate(prompts, options, batch_size)

    early = judge_gate(PairwiseJudge(Counting()))
    assert asked == [16] and not early.passed and early.n_pairs == 8
    assert early.reason.startswith("judge fake failed the gate on the first 8 of 24 pairs")
    assert "consistency 0.00 < 0.80" in early.reason
    # a judge that is right on the first pairs and wrong later is judged until it cannot pass
    pairs = load_judge_pairs()
    better = set(pairs["better"].iloc[:10])
    late = judge_gate(PairwiseJudge(Oracle(better)), pairs, chunk=4)
    whole = judge_gate(PairwiseJudge(Oracle(better)), pairs, chunk=None)
    assert late.passed == whole.passed is False and late.n_pairs == 16 and whole.n_pairs == 24
    # an oracle is judged on every pair, in chunks or not
    oracle = judge_gate(PairwiseJudge(Oracle(set(pairs["better"]))), pairs, chunk=5)
    assert oracle.passed and oracle.n_pairs == 24


def test_an_oracle_judge_passes_the_gate() -> None:
    pairs = load_judge_pairs()
    result = judge_gate(PairwiseJudge(Oracle(set(pairs["better"]))), pairs)
    assert result.passed and result.consistency == 1.0 and result.accuracy == 1.0
    assert result.reason.startswith("judge fake passed on 24 pairs")
    assert result.as_dict()["min_accuracy"] == 0.75


def test_a_judge_that_prefers_longer_responses_is_consistent_but_fails_on_accuracy() -> None:
    result = judge_gate(PairwiseJudge(Longer()))
    assert result.consistency == 1.0 and result.accuracy == 0.5
    assert not result.passed
    assert "accuracy 0.50 < 0.75" in result.reason and "consistency" not in result.reason.split(": ", 1)[1]


def test_oracle_choices_follow_the_better_response_in_either_slot() -> None:
    judge = PairwiseJudge(Oracle({"good"}))
    prefs = judge.prefer(["q", "q"], ["good", "bad"], ["bad", "good"])
    assert prefs["choice"].tolist() == ["first", "second"]
    assert prefs["consistent"].all()
    assert prefs["p_first"].tolist() == pytest.approx([0.8, 0.2])


def test_win_rate_counts_ties_as_half_and_brackets_the_estimate() -> None:
    prefs = pd.DataFrame({"choice": ["first"] * 7 + ["second"] * 3})
    got = win_rate(prefs)
    assert got["estimate"] == pytest.approx(0.7) and got["n"] == 10 and got["n_ties"] == 0
    assert got["ci_low"] <= 0.7 <= got["ci_high"] and got["ci_high"] - got["ci_low"] > 0.2
    assert got["p"] == pytest.approx(0.34375)  # two-sided binomial, 7 of 10
    tied = win_rate(pd.DataFrame({"choice": ["first"] * 6 + ["tie"] * 4}))
    assert tied["estimate"] == pytest.approx(0.8) and tied["n_ties"] == 4
    assert tied["p"] == pytest.approx(2 * 0.5**6)
    assert win_rate(pd.DataFrame({"choice": ["tie"] * 3}))["p"] is None


def test_bad_input_is_refused() -> None:
    judge = PairwiseJudge(AlwaysA())
    with pytest.raises(ValueError, match="one of each per pair"):
        judge.prefer(["q"], ["a", "b"], ["c"])
    with pytest.raises(ValueError, match=r"second\[0\] is empty"):
        judge.prefer(["q"], ["a"], ["  "])
    with pytest.raises(TypeError, match="no rate"):
        PairwiseJudge(object())
    with pytest.raises(ValueError, match="expected first, second or tie"):
        win_rate(pd.DataFrame({"choice": ["A"]}))


def test_a_user_pair_file_must_give_two_different_responses(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("pair_id,prompt,better,worse\np1,q,same,same\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"row 2, column 'worse': the same text as better"):
        load_judge_pairs(path)


@pytest.mark.real
def test_smollm_gate_result_is_well_formed(smollm) -> None:  # type: ignore[no-untyped-def]
    result = judge_gate(PairwiseJudge(smollm, batch_size=8))
    print(result.as_dict())
    assert result.n_pairs in (8, 16, 24) and (result.n_pairs == 24 or not result.passed)
    assert 0.0 <= result.consistency <= 1.0 and 0.0 <= result.accuracy <= 1.0
    assert result.passed == (result.consistency >= 0.8 and result.accuracy >= 0.75)
    assert result.reason.startswith(f"judge {smollm.name} ")
