"""Damage reuses the unedited outputs of the blocks before the first edited one: the same numbers as
computing every block (bit for bit), whatever the edit, its read points and the other active edits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from conftest import TEXTS, TINY, get_model

from valuescope import LanguageModel
from valuescope.readout import capture, damage


def _direction(lm: LanguageModel, seed: int) -> torch.Tensor:
    return torch.randn(lm.d_model, generator=torch.Generator().manual_seed(seed))


EDITS: dict[str, Callable[[LanguageModel], Any]] = {
    "steer_middle": lambda lm: lm.steer(_direction(lm, 1), layers=[lm.n_layers // 2], alpha=2.0),
    "steer_embeddings": lambda lm: lm.steer(_direction(lm, 2), layers=[0], alpha=2.0),
    "steer_last": lambda lm: lm.steer(_direction(lm, 3), layers=[lm.n_layers], alpha=2.0),
    "ablate_everywhere": lambda lm: lm.ablate(_direction(lm, 4), layers=list(range(lm.n_layers + 1))),
    "ablate_sublayers": lambda lm: lm.ablate(_direction(lm, 5), layers=[lm.n_layers - 1], sublayers=True),
    "scale_neurons": lambda lm: lm.scale_neurons({lm.n_layers - 1: [0, 1, 2]}, 3.0),
}


def _without_replay(monkeypatch: pytest.MonkeyPatch, call: Callable[[], Any]) -> Any:
    with monkeypatch.context() as m:
        m.setattr(damage, "replayable_blocks", lambda layout: 0)
        return call()


@pytest.mark.parametrize("family", ["tiny-qwen3", "tiny-gemma3", "tiny-gpt2"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_replayed_blocks_give_the_same_damage_bit_for_bit(
    family: str, edit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = get_model(family)
    texts = [TEXTS[0], TEXTS[2], TEXTS[1]]
    meter = damage.DamageMeter(lm, texts, batch_size=2)
    replayed: list[int] = []

    def spy(layout: Any, outputs: Any, n: int) -> Any:
        replayed.append(n)
        return capture.replay_blocks(layout, outputs, n)

    with monkeypatch.context() as m:
        m.setattr(damage, "replay_blocks", spy)
        got = meter(EDITS[edit](lm))
    if edit == "steer_middle":
        assert replayed == [lm.n_layers // 2] * 2  # both batches skip the blocks before the edit
    elif edit in ("steer_embeddings", "ablate_everywhere"):
        assert replayed == [0, 0]
    want = _without_replay(monkeypatch, lambda: damage.DamageMeter(lm, texts, batch_size=2)(EDITS[edit](lm)))
    assert got == want
    assert lm.active_interventions == []


def test_replay_skips_exactly_the_blocks_before_the_first_hook() -> None:
    lm = get_model("tiny-llama")
    assert capture.replayable_blocks(lm.layout) == lm.n_layers
    with lm.steer(_direction(lm, 0), layers=[2]):  # read point 2: block 1's output
        assert capture.replayable_blocks(lm.layout) == 2
    with lm.steer(_direction(lm, 0), layers=[0]):  # block 0's input
        assert capture.replayable_blocks(lm.layout) == 0
    with lm.scale_neurons({1: [0]}, 2.0):  # inside block 1
        assert capture.replayable_blocks(lm.layout) == 1


def test_damage_with_another_edit_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lm.damage`` measures one edit on top of whatever else is active; replayed blocks must not
    apply the other edit twice."""
    lm = get_model("tiny-qwen3")
    texts = [TEXTS[0], TEXTS[2]]
    other = lm.steer(_direction(lm, 7), layers=[1], alpha=1.5)
    with other:
        edit = lm.steer(_direction(lm, 8), layers=[3], alpha=2.0)
        got = lm.damage(edit, texts=texts)
        want = _without_replay(monkeypatch, lambda: lm.damage(lm.steer(_direction(lm, 8), [3], 2.0), texts))
    assert got == want


def test_block_forwards_are_restored_after_replay() -> None:
    lm = get_model(TINY[0])
    meter = damage.DamageMeter(lm, [TEXTS[0]])
    meter(lm.steer(_direction(lm, 0), layers=[lm.n_layers], alpha=1.0))
    assert all("forward" not in block.__dict__ for block in lm.layout.blocks)


def test_transformers_output_capturing_hooks_do_not_stop_the_replay() -> None:
    """transformers installs inert capture hooks for good on the first ``output_hidden_states=True`` call."""
    lm = get_model("tiny-gpt2")
    ids = lm.tokenizer(["Hello there"], return_tensors="pt")
    with torch.no_grad():
        lm.model(**ids, output_hidden_states=True)
    assert any(h for m in lm.model.modules() for h in m._forward_hooks.values())  # they are there
    assert capture.replayable_blocks(lm.layout) == lm.n_layers
