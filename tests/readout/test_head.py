"""The LM head on chosen rows: log-normaliser, target logits and log-probabilities against the model's
own head and a float64 log-softmax, across vocabulary blocks, a softcap, a bias and a hook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from conftest import get_model

from valuescope.readout import head as head_module
from valuescope.readout.head import Head


@pytest.fixture(params=[7, 4096], ids=["many-blocks", "one-block"])
def block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The vocabulary block size: 7 makes every tiny vocabulary span many blocks (and a ragged last one)."""
    monkeypatch.setattr(head_module, "_BLOCK", request.param)
    yield request.param


def _reference(lm_name: str, h: torch.Tensor, *, bias: bool = False) -> tuple[Head, torch.Tensor]:
    """The Head and the float64 log-softmax of the model's own head (softcap included) on ``h``."""
    lm = get_model(lm_name)
    head = Head(lm)
    if bias:  # a head with a bias (as some families have): the Head reads it from the module
        head.bias = torch.linspace(-1.0, 1.0, head.weight.shape[0])
    logits = torch.nn.functional.linear(h, head.weight, head.bias).double()
    if head.cap is not None:
        logits = torch.tanh(logits / head.cap) * head.cap
    return head, logits.log_softmax(-1)


@pytest.mark.parametrize(
    ("name", "bias"), [("tiny-qwen3", False), ("tiny-gemma2", False), ("tiny-llama", True)]
)
def test_log_normaliser_and_log_probs_match_the_log_softmax(name: str, bias: bool, block: int) -> None:
    lm = get_model(name)
    h = torch.randn(5, lm.d_model, generator=torch.Generator().manual_seed(0)) * 3
    head, want = _reference(name, h, bias=bias)
    assert head.linear == (head.cap is None)
    rows = torch.tensor([0, 0, 3, 4, 2])
    tokens = torch.tensor([1, 9, 5, 0, head.weight.shape[0] - 1])
    got = head.log_probs_at(h, rows, tokens)
    torch.testing.assert_close(got.double(), want[rows, tokens], rtol=0, atol=2e-5)
    raw = torch.nn.functional.linear(h, head.weight, head.bias).double()
    if head.cap is not None:
        raw = torch.tanh(raw / head.cap) * head.cap
    torch.testing.assert_close(head.log_normaliser(h).double(), torch.logsumexp(raw, -1), rtol=0, atol=2e-5)
    torch.testing.assert_close(head.logits_at(h[rows], tokens).double(), raw[rows, tokens], rtol=0, atol=2e-5)


def test_a_hooked_head_runs_as_a_module_once() -> None:
    lm = get_model("tiny-llama")
    h = torch.randn(4, lm.d_model, generator=torch.Generator().manual_seed(1))
    seen: list[int] = []

    def hook(_m: torch.nn.Module, _i: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
        seen.append(out.shape[0])
        return out * 0.5

    handle = lm.layout.lm_head.register_forward_hook(hook)
    try:
        head = Head(lm)
        assert head.hooked and not head.linear
        got = head.log_probs_at(h, torch.tensor([0, 3, 3]), torch.tensor([2, 4, 6]))
    finally:
        handle.remove()
    assert seen == [4]
    want = (torch.nn.functional.linear(h, head.weight).double() * 0.5).log_softmax(-1)
    torch.testing.assert_close(got.double(), want[[0, 3, 3], [2, 4, 6]], rtol=0, atol=2e-5)


@pytest.mark.parametrize("name", ["tiny-qwen3", "tiny-gemma2"])
def test_argmax_is_the_first_of_the_tied_maxima(name: str, block: int) -> None:
    lm = get_model(name)
    head = Head(lm)
    h = torch.randn(6, lm.d_model, generator=torch.Generator().manual_seed(2))
    h[5] = 0.0  # every logit equal: token 0
    want = torch.nn.functional.linear(h, head.weight, head.bias)
    if head.cap is not None:
        want = torch.tanh(want / head.cap) * head.cap
    assert head.argmax(h).tolist() == want.argmax(-1).tolist()
    assert int(head.argmax(h)[5]) == 0
