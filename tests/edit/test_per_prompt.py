"""EditEach: every prompt of one batched generation gets what its own edit alone gives it."""

from __future__ import annotations

import pytest
import torch
from conftest import get_model

from valuescope import LanguageModel
from valuescope.edit.interventions import Intervention

PROMPTS = ["The cat", "A long sentence about the weather today", "Hello", "Most people agree that", "0 1 2"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _edits(lm: LanguageModel) -> list[Intervention | None]:
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(lm.d_model, 2, generator=g))
    return [
        None,
        lm.steer(torch.randn(lm.d_model, generator=g), [1], alpha=4.0),
        lm.ablate(torch.randn(lm.d_model, generator=g), [1, 2], keep_special=True),
        lm.edit_subspace(basis.T, torch.zeros(2, 2), [2]),
        lm.steer(torch.randn(lm.d_model, generator=g), [0, 2], alpha=2.0),
    ]


@pytest.mark.parametrize("family", ["tiny-llama", "tiny-gemma3"])
def test_each_prompt_gets_what_its_own_edit_gives(family: str) -> None:
    """Greedy texts under one EditEach equal one generation per edit, with rows of different edits
    sharing batches and finishing at different steps."""
    lm = get_model(family)
    edits = _edits(lm)
    which = [1, 0, 2, 3, 4, 1, 2, 0, 3, 4]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(len(which))]
    expected = []
    for p, j in zip(prompts, which, strict=True):
        edit = edits[j]
        if edit is None:
            expected.append(lm.generate([p], max_new_tokens=8)[0])
        else:
            with edit:
                expected.append(lm.generate([p], max_new_tokens=8)[0])
    with lm.edit_each(edits, which):
        got = lm.generate(prompts, max_new_tokens=8, batch_size=4)
    assert got == expected
    assert len(set(expected)) > len(set(prompts))  # the edits change the texts: the test can fail


def test_refuses_what_it_cannot_apply_row_by_row() -> None:
    lm = get_model("tiny-llama")
    v = torch.ones(lm.d_model)
    with pytest.raises(ValueError, match=r"edits\[0\] \(Steer\)"):
        lm.edit_each([lm.steer(v, [1], positions="last")], [0])
    with pytest.raises(ValueError, match=r"edits\[1\] \(Ablate\)"):
        lm.edit_each([None, lm.ablate(v, [1], sublayers=True)], [0, 1])
    with pytest.raises(ValueError, match=r"which\[1\] = 2 names no edit"):
        lm.edit_each([None, lm.steer(v, [1])], [0, 2])
    outside = pytest.raises(RuntimeError, match=r"only inside lm\.generate")
    with lm.edit_each([lm.steer(v, [1])], [0, 0]), outside:
        lm.residuals(["The cat", "Hello"], layers=[1])
