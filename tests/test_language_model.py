"""Residual and neuron readouts against transformers' own computation, on every tiny family."""

from __future__ import annotations

import pytest
import torch
from conftest import TEXTS, get_model

from valuescope import LanguageModel
from valuescope.model import TokenReadout


def hidden_states(lm: LanguageModel, text: str) -> tuple[torch.Tensor, ...]:
    enc = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return lm.model(**enc, output_hidden_states=True).hidden_states


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_residuals_equal_transformers_hidden_states_at_every_read_point(tiny: LanguageModel) -> None:
    got = tiny.residuals(TEXTS, layers=list(range(tiny.n_layers + 1)), pool="last", batch_size=3)
    assert isinstance(got, torch.Tensor)
    assert got.shape == (len(TEXTS), tiny.n_layers + 1, tiny.d_model) and got.dtype == torch.float32
    for i, text in enumerate(TEXTS):
        hs = hidden_states(tiny, text)
        for rp in range(tiny.n_layers):
            assert rel_err(got[i, rp], hs[rp][0, -1]) < 1e-5, (i, rp)
        # The last read point is the last block's output before the final norm.
        normed = tiny.layout.final_norm(got[i, tiny.n_layers][None, None])[0, 0]
        assert rel_err(normed, hs[tiny.n_layers][0, -1]) < 1e-5


def test_mean_pool_averages_text_tokens_without_special_tokens(tiny: LanguageModel) -> None:
    got = tiny.residuals(TEXTS, layers=[2], pool="mean")
    assert isinstance(got, torch.Tensor)
    for i, text in enumerate(TEXTS):
        enc = tiny.tokenizer(text, return_special_tokens_mask=True)
        keep = torch.tensor(enc["special_tokens_mask"]) == 0
        ref = hidden_states(tiny, text)[2][0][keep].mean(0)
        assert rel_err(got[i, 0], ref) < 1e-5


def test_batching_and_order_do_not_change_results(tiny: LanguageModel) -> None:
    a = tiny.residuals(TEXTS, layers=[0, 1, 3], pool="mean", batch_size=1)
    b = tiny.residuals(TEXTS[::-1], layers=[0, 1, 3], pool="mean", batch_size=4)
    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    torch.testing.assert_close(a, b.flip(0), rtol=1e-5, atol=1e-5)


def test_span_pools_only_the_text_after_its_context() -> None:
    lm = get_model("tiny-llama")
    context, text = "Question: is it kind? Answer:", " Yes, it is kind."
    got = lm.residuals([(context, text)], layers=[2], pool="mean")
    assert isinstance(got, torch.Tensor)
    enc = lm.tokenizer(context + text, return_offsets_mapping=True)
    in_text = torch.tensor([end > len(context) for _, end in enc["offset_mapping"]])
    ref = hidden_states(lm, context + text)[2][0][in_text].mean(0)
    assert rel_err(got[0, 0], ref) < 1e-5
    alone = lm.residuals([text], layers=[2], pool="mean")
    assert isinstance(alone, torch.Tensor)
    assert rel_err(got[0, 0], alone[0, 0]) > 1e-3  # the context was read


def test_pool_all_returns_every_token_with_a_mask() -> None:
    lm = get_model("tiny-gpt2")
    out = lm.residuals(TEXTS, layers=[1, 2], pool="all")
    assert isinstance(out, TokenReadout)
    longest = max(len(lm.tokenizer(t)["input_ids"]) for t in TEXTS)
    assert out.values.shape == (len(TEXTS), 2, longest, lm.d_model)
    for i, text in enumerate(TEXTS):
        n = len(lm.tokenizer(text)["input_ids"])
        assert int(out.mask[i].sum()) == n
        ref = hidden_states(lm, text)[1][0]
        assert rel_err(out.values[i, 0, :n], ref) < 1e-5


def test_read_stops_after_the_deepest_read_point_and_never_runs_the_lm_head(tiny: LanguageModel) -> None:
    ran: list[str] = []
    handles = [
        b.register_forward_hook(lambda *_, i=i: ran.append(f"block{i}"))
        for i, b in enumerate(tiny.layout.blocks)
    ]
    handles.append(tiny.layout.lm_head.register_forward_hook(lambda *_: ran.append("head")))
    handles.append(tiny.layout.final_norm.register_forward_hook(lambda *_: ran.append("norm")))
    try:
        tiny.residuals(TEXTS[:2], layers=[2], pool="last")
        assert ran == ["block0", "block1"]
        ran.clear()
        tiny.residuals(TEXTS[:2], layers=[0], pool="last")
        assert ran == []
        ran.clear()
        tiny.residuals(TEXTS[:2], layers=[-1], pool="last")
        assert "head" not in ran and "norm" not in ran and len(ran) == tiny.n_layers
    finally:
        for h in handles:
            h.remove()


def test_neurons_are_the_input_of_the_down_projection(tiny: LanguageModel) -> None:
    seen: list[torch.Tensor] = []
    down = tiny.layout.mlp_down(1)
    handle = down.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        got = tiny.neurons(TEXTS[:1], blocks=[1], pool="last")
    finally:
        handle.remove()
    with torch.no_grad():
        handle = down.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
        try:
            tiny.model(**tiny.tokenizer(TEXTS[0], return_tensors="pt"))
        finally:
            handle.remove()
    assert isinstance(got, torch.Tensor)
    assert got.shape == (1, 1, tiny.layout.n_neurons(1))
    assert rel_err(got[0, 0], seen[-1][0, -1]) < 1e-5


def test_negative_read_points_count_from_the_end() -> None:
    lm = get_model("tiny-qwen3")
    a = lm.residuals(TEXTS[:2], layers=[-1, -2], pool="last")
    b = lm.residuals(TEXTS[:2], layers=[lm.n_layers, lm.n_layers - 1], pool="last")
    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lm: lm.residuals([], layers=[1]), "empty"),
        (lambda lm: lm.residuals("one text", layers=[1]), "single string"),
        (lambda lm: lm.residuals(["ok", 3], layers=[1]), r"texts\[1\]"),
        (lambda lm: lm.residuals(["ok", ""], layers=[1]), r"texts\[1\]"),
        (lambda lm: lm.residuals(["ok"], layers=[99]), "out of range"),
        (lambda lm: lm.residuals(["ok"], layers=[]), "non-empty"),
        (lambda lm: lm.residuals(["ok"], layers=[1], pool="max"), "pool"),
        (lambda lm: lm.neurons(["ok"], blocks=[4]), "out of range"),
    ],
)
def test_bad_input_gets_a_one_line_error_naming_the_argument(call, message: str) -> None:  # type: ignore[no-untyped-def]
    lm = get_model("tiny-gpt2")
    with pytest.raises((ValueError, TypeError), match=message) as info:
        call(lm)
    assert "\n" not in str(info.value)


@pytest.mark.real
def test_gemma_residuals_equal_transformers_hidden_states(gemma: LanguageModel) -> None:
    assert gemma.n_layers == 18 and gemma.d_model == 640
    got = gemma.residuals(TEXTS, layers=list(range(19)), pool="last", batch_size=4)
    assert isinstance(got, torch.Tensor)
    for i, text in enumerate(TEXTS):
        hs = hidden_states(gemma, text)
        ref = torch.stack([hs[rp][0, -1] for rp in range(18)])
        assert rel_err(got[i, :18], ref) < 1e-4
        normed = gemma.layout.final_norm(got[i, 18][None, None])[0, 0]
        assert rel_err(normed, hs[18][0, -1]) < 1e-4


@pytest.mark.real
def test_gemma_description_names_weights_hash_and_quantization(gemma: LanguageModel) -> None:
    d = gemma.describe()
    assert len(d["weights_sha256"]) == 64
    assert d["quantization"].startswith("Q4_K_M")
    assert d["family"] == "gemma3_text" and d["dtype"] == "float32"
