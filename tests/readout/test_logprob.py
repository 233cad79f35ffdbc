"""Text log-probabilities equal transformers' own logits, whatever the batch size."""

from __future__ import annotations

import pytest
import torch
from conftest import TEXTS, get_model

from valuescope import LanguageModel


def reference(lm: LanguageModel, text: str) -> tuple[float, int]:
    ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = lm.model(input_ids=ids).logits[0, :-1].float()
    lp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
    special = set(lm.tokenizer.all_special_ids)
    keep = torch.tensor([int(t) not in special for t in ids[0, 1:]])
    return float(lp[keep].sum()), int(keep.sum())


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama", "tiny-gemma3"])
def test_logprobs_match_the_full_forward_pass(name: str) -> None:
    lm = get_model(name)
    table = lm.logprob(TEXTS, batch_size=3)
    for text, row in zip(TEXTS, table.itertuples(), strict=True):
        want, n = reference(lm, text)
        assert row.n_tokens == n and row.logprob == pytest.approx(want, abs=1e-4)
        assert row.logprob_mean == pytest.approx(want / n, abs=1e-5)


def test_batch_size_does_not_change_the_result() -> None:
    lm = get_model("tiny-qwen3")
    a = lm.logprob(TEXTS, batch_size=1)["logprob"].to_numpy()
    b = lm.logprob(TEXTS, batch_size=4)["logprob"].to_numpy()
    assert abs(a - b).max() < 1e-4


def test_context_is_not_scored() -> None:
    lm = get_model("tiny-llama")
    whole = lm.logprob(["Q: kind? A: yes"])
    split = lm.logprob([("Q: kind? A:", " yes")])
    assert split["n_tokens"][0] < whole["n_tokens"][0]
    assert split["text"][0] == " yes"


def test_an_edit_changes_log_probabilities() -> None:
    lm = get_model("tiny-llama")
    base = lm.logprob(TEXTS)["logprob"].to_numpy()
    with lm.ablate(torch.ones(lm.d_model), layers=[1]):
        edited = lm.logprob(TEXTS)["logprob"].to_numpy()
    assert abs(base - edited).max() > 1e-4


def test_bad_input_is_named() -> None:
    lm = get_model("tiny-gpt2")
    with pytest.raises(ValueError, match="batch_size"):
        lm.logprob(TEXTS, batch_size=0)
    with pytest.raises((ValueError, TypeError), match="texts"):
        lm.logprob([])
