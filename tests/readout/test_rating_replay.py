"""Prepared ratings reuse the unedited outputs of the blocks before the first edited one, prefix KV
cache included: the same ratings as ``rate`` computing every block, bit for bit, whatever the edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from conftest import get_model
from test_damage_replay import EDITS as DAMAGE_EDITS
from test_damage_replay import _direction

from valuescope import LanguageModel
from valuescope.readout import capture, rating_scores, ratings

LIKERT = ["1", "2", "3", "4", "5"]
WORDS = ["agree", "disagree", "not sure"]
INSTRUCTION = (
    "Read the statement below carefully and rate how much you agree with it, on a scale "
    "from 1 to 5, where 1 means not at all and 5 means completely.\nStatement: "
)
PROMPTS = [
    *(INSTRUCTION + s + "\nAnswer:" for s in ("The river is wide.", "Cats sleep.", "Honesty matters.")),
    "Rate it from 1 to 7:",
    "The weather was calm and the",
]


EDITS: dict[str, Callable[[LanguageModel], Any]] = {
    **DAMAGE_EDITS,
    "steer_last_position": lambda lm: lm.steer(
        _direction(lm, 5), layers=[lm.n_layers // 2], alpha=2.0, positions="last"
    ),
}


@pytest.mark.parametrize("family", ["tiny-qwen3", "tiny-gemma3", "tiny-gpt2", "tiny-llama"])
@pytest.mark.parametrize("options", [LIKERT, WORDS], ids=["likert", "words"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_replayed_ratings_equal_computed_ones_bit_for_bit(
    family: str, options: list[str], edit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = get_model(family)
    reverse = [False, True, False, False, True]
    prepared = ratings.PreparedRating(lm, PROMPTS, options, reverse=reverse, batch_size=2)
    base = prepared()
    pd.testing.assert_frame_equal(base, lm.rate(PROMPTS, options, reverse=reverse, batch_size=2))
    skipped: list[int] = []

    def spy(layout: Any, outputs: Any, n: int) -> Any:
        skipped.append(min(n, len(outputs)))
        return capture.replay_blocks(layout, outputs, n)

    with monkeypatch.context() as m, EDITS[edit](lm):
        m.setattr(rating_scores, "replay_blocks", spy)
        got = prepared()
    with EDITS[edit](lm):
        want = lm.rate(PROMPTS, options, reverse=reverse, batch_size=2)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    if edit == "steer_middle":
        assert skipped and set(skipped) == {lm.n_layers // 2}  # every pass skips the blocks before it
    elif edit in ("steer_embeddings", "ablate_everywhere"):
        assert set(skipped) == {0}
    elif edit == "steer_last_position":
        assert not skipped  # a position-bound edit runs without the prefix cache: nothing recorded
    assert not (got["expected"] == base["expected"]).all()
    assert lm.active_interventions == []
    assert all("forward" not in block.__dict__ for block in lm.layout.blocks)


def test_the_recording_needs_a_call_with_no_edit_active() -> None:
    lm = get_model("tiny-llama")
    prepared = ratings.PreparedRating(lm, PROMPTS, LIKERT)
    edit = EDITS["steer_middle"]
    with edit(lm):
        first = prepared()  # nothing to replay yet, and an edited pass is not a recording
        want = lm.rate(PROMPTS, LIKERT)
    pd.testing.assert_frame_equal(first, want, check_exact=True)
    assert prepared._tape is None
    pd.testing.assert_frame_equal(prepared(), lm.rate(PROMPTS, LIKERT), check_exact=True)
    assert prepared._tape is not None
    with edit(lm):
        pd.testing.assert_frame_equal(prepared(), want, check_exact=True)


def test_a_failed_recording_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    lm = get_model("tiny-qwen3")
    prepared = ratings.PreparedRating(lm, PROMPTS, LIKERT, batch_size=2)
    calls = {"n": 0}
    real = rating_scores._forward

    def fail_second(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("interrupted")
        return real(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(rating_scores, "_forward", fail_second)
        with pytest.raises(RuntimeError, match="interrupted"):
            prepared()
    assert prepared._tape is None
    with EDITS["steer_middle"](lm):
        got, want = prepared(), lm.rate(PROMPTS, LIKERT, batch_size=2)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_prepared_rating_checks_its_input_where_it_enters() -> None:
    lm = get_model("tiny-llama")
    with pytest.raises(ValueError, match=r"reverse has 1 entries but there are 5 prompts"):
        ratings.PreparedRating(lm, PROMPTS, LIKERT, reverse=[True])
    with pytest.raises(TypeError, match=r"prompts\[1\]"):
        ratings.PreparedRating(lm, ["a", 3], LIKERT)  # type: ignore[list-item]
