"""Ratings from next-token probabilities, checked against per-option continuation scoring."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch

from valuescope import load_model
from valuescope.language_model import LanguageModel
from valuescope.models.tiny import TINY_MODELS

FAMILIES = sorted(TINY_MODELS)
LIKERT = ["1", "2", "3", "4", "5"]
WORDS = ["agree", "disagree", "not sure"]
PROMPTS = [
    "Rate it from 1 to 7:",
    "The weather was calm and the",
    "Rate the statement. It is a long sentence about the river and the town, from 1 to 5:",
]


@functools.cache
def tiny(name: str) -> LanguageModel:
    return load_model(name)


def reference(
    lm: LanguageModel,
    texts: Sequence[str],
    options: Sequence[str],
    sep: str = " ",
    add_special: bool = True,
    trim: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) renormalised probabilities and (n,) mass, scoring each option as its own continuation
    with the full model's logits (the lm-evaluation-harness way). ``trim`` asks the model for the
    logits of the continuation's positions only (same values, faster for a 262k vocabulary)."""
    tok = lm.tokenizer
    probs, masses = [], []
    for text in texts:
        ctx = tok(text, add_special_tokens=add_special)["input_ids"]
        lps = []
        for option in options:
            full = tok(text + sep + option, add_special_tokens=add_special)["input_ids"]
            assert full[: len(ctx)] == ctx and len(full) > len(ctx)
            keep = len(full) - len(ctx) + 1 if trim else 0  # 0 keeps every position
            with torch.no_grad():
                out = lm.model(input_ids=torch.tensor([full], device=lm.device), logits_to_keep=keep)
            logp = out.logits[0].double().log_softmax(-1).cpu()
            offset = len(full) - logp.shape[0]
            lps.append(sum(float(logp[p - 1 - offset, full[p]]) for p in range(len(ctx), len(full))))
        lp = torch.tensor(lps, dtype=torch.float64)
        probs.append(torch.softmax(lp, 0).numpy())
        masses.append(float(lp.exp().sum()))
    return np.stack(probs), np.array(masses)


def p_columns(df: Any, options: Sequence[str]) -> np.ndarray:
    return df[[f"p_{o}" for o in options]].to_numpy(dtype=np.float64)


@contextmanager
def record(module: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record the first input of ``module`` on every call."""
    seen: list[torch.Tensor] = []

    def hook(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        x = args[0] if args else next(iter(kwargs.values()))
        seen.append(x.detach().clone())

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


# ----------------------------------------------------------------------------- equality with reference
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("options", [LIKERT, WORDS], ids=["likert", "words"])
def test_matches_per_option_reference(family: str, options: list[str]) -> None:
    lm = tiny(family)
    df = lm.rate(PROMPTS, options)
    probs, mass = reference(lm, PROMPTS, options)
    np.testing.assert_allclose(p_columns(df, options), probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(df["mass"].to_numpy(), mass, rtol=1e-4, atol=1e-9)
    p_cols = [f"p_{o}" for o in options]
    assert list(df.columns) == ["prompt", *p_cols, "mass", "expected", "argmax", "reversed"]
    assert list(df["prompt"]) == PROMPTS
    np.testing.assert_allclose(p_columns(df, options).sum(1), 1.0, atol=1e-9)


@pytest.mark.parametrize("options", [LIKERT, WORDS], ids=["likert", "words"])
def test_final_logit_softcapping(options: list[str]) -> None:
    """Gemma-2 style soft-capping of the logits, which the full model applies, is applied here too."""
    lm = tiny("tiny-gemma3")
    config = lm.model.config
    plain = lm.rate(PROMPTS, options)
    config.final_logit_softcapping = 0.3
    try:
        df = lm.rate(PROMPTS, options)
        probs, mass = reference(lm, PROMPTS, options)
    finally:
        config.final_logit_softcapping = None
    assert not np.allclose(np.log(p_columns(plain, options)), np.log(probs), atol=1e-2)
    np.testing.assert_allclose(p_columns(df, options), probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(df["mass"], mass, rtol=1e-4)


def test_word_options_are_multi_token() -> None:
    """The 'words' case above really exercises multi-token continuations on both tokenizer styles."""
    for family in ("tiny-gpt2", "tiny-llama"):
        tok = tiny(family).tokenizer
        ctx = tok(PROMPTS[0])["input_ids"]
        lengths = [len(tok(PROMPTS[0] + " " + o)["input_ids"]) - len(ctx) for o in WORDS]
        assert max(lengths) > 1, (family, lengths)


def test_prefix_options_multi_token() -> None:
    """'1' is a prefix of '10': scored as continuations, neither loses its only token."""
    lm = tiny("tiny-gpt2")
    options = ["1", "10", "2"]
    df = lm.rate(PROMPTS, options)
    probs, mass = reference(lm, PROMPTS, options)
    np.testing.assert_allclose(p_columns(df, options), probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(df["mass"].to_numpy(), mass, rtol=1e-4)


def test_byte_level_single_token_one_pass() -> None:
    """' 1' is one token: one sequence per prompt, LM head on one row per prompt."""
    lm = tiny("tiny-gpt2")
    tok = lm.tokenizer
    assert tok.convert_ids_to_tokens(tok(" 1")["input_ids"]) == ["Ġ1"]
    with record(lm.layout.embed) as ids, record(lm.layout.lm_head) as heads:
        df = lm.rate(PROMPTS, LIKERT)
    assert sum(x.shape[0] for x in ids) == len(PROMPTS)
    assert all(h.ndim == 2 for h in heads) and sum(h.shape[0] for h in heads) == len(PROMPTS)
    probs, mass = reference(lm, PROMPTS, LIKERT)
    np.testing.assert_allclose(p_columns(df, LIKERT), probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(df["mass"].to_numpy(), mass, rtol=1e-4)


@pytest.mark.parametrize("family", ["tiny-llama", "tiny-gemma3"])
def test_space_then_digit_split(family: str) -> None:
    """'▁' then a digit: the shared '▁' moves into the context; still one sequence per prompt, and the
    LM head runs on two rows per prompt (the '▁' and the digit)."""
    lm = tiny(family)
    tok = lm.tokenizer
    ctx = tok(PROMPTS[0])["input_ids"]
    cont = tok.convert_ids_to_tokens(tok(PROMPTS[0] + " 3")["input_ids"][len(ctx) :])
    assert cont == ["▁", "3"]
    with record(lm.layout.embed) as ids, record(lm.layout.lm_head) as heads:
        df = lm.rate(PROMPTS, LIKERT)
    assert sum(x.shape[0] for x in ids) == len(PROMPTS)
    assert sum(h.shape[0] for h in heads) == 2 * len(PROMPTS)
    probs, mass = reference(lm, PROMPTS, LIKERT)
    np.testing.assert_allclose(p_columns(df, LIKERT), probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(df["mass"].to_numpy(), mass, rtol=1e-4)


def test_merge_with_prompt_uses_prompt_tokens() -> None:
    """A prompt ending in a space merges with the option ('Ġ' + '1' -> 'Ġ1'); the prompt keeps its own
    tokens and the option is tokenized on its own."""
    lm = tiny("tiny-gpt2")
    tok = lm.tokenizer
    prompt = "Rate it from 1 to 7: "
    ctx = tok(prompt)["input_ids"]
    assert tok(prompt + "1")["input_ids"][: len(ctx)] != ctx
    df = lm.rate([prompt], ["1", "2"], sep="")
    lps = []
    for option in ["1", "2"]:
        (target,) = tok(option, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([ctx])).logits[0, -1].double()
        lps.append(float(logits.log_softmax(-1)[target]))
    expect = torch.softmax(torch.tensor(lps), 0).numpy()
    np.testing.assert_allclose(p_columns(df, ["1", "2"])[0], expect, atol=1e-5)


# ----------------------------------------------------------------------------- batching
@pytest.mark.parametrize("options", [LIKERT, WORDS], ids=["likert", "words"])
def test_batch_size_independent_and_order_kept(options: list[str]) -> None:
    lm = tiny("tiny-llama")
    prompts = [PROMPTS[1], PROMPTS[2], "Rate:", PROMPTS[0], "The town and the river, 1 to 5:"]
    one = lm.rate(prompts, options, batch_size=1)
    many = lm.rate(prompts, options, batch_size=32)
    two = lm.rate(prompts, options, batch_size=2)
    assert list(one["prompt"]) == list(many["prompt"]) == prompts
    for other in (many, two):
        np.testing.assert_allclose(p_columns(other, options), p_columns(one, options), atol=1e-5, rtol=0)
        np.testing.assert_allclose(other["mass"], one["mass"], rtol=1e-4)
    singles = np.concatenate([p_columns(lm.rate([p], options), options) for p in prompts])
    np.testing.assert_allclose(p_columns(many, options), singles, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- values, reversal
def test_expected_values_and_reverse() -> None:
    lm = tiny("tiny-gpt2")
    prompts = [PROMPTS[0], PROMPTS[0], PROMPTS[1]]
    df = lm.rate(prompts, LIKERT, reverse=[False, True, True])
    p = p_columns(df, LIKERT)
    plain = p @ np.arange(1, 6)
    np.testing.assert_allclose(df["expected"], [plain[0], 6 - plain[1], 6 - plain[2]], atol=1e-9)
    assert list(df["reversed"]) == [False, True, True]
    assert df["expected"][0] + df["expected"][1] == pytest.approx(6.0)
    assert list(df["argmax"]) == [LIKERT[i] for i in p.argmax(1)]

    valued = lm.rate(prompts, LIKERT, values=[10, 20, 30, 40, 50], reverse=True)
    vplain = p @ np.array([10, 20, 30, 40, 50])
    np.testing.assert_allclose(valued["expected"], 60 - vplain, atol=1e-9)
    assert valued["reversed"].all()

    words = lm.rate(prompts[:1], WORDS)
    np.testing.assert_allclose(words["expected"], p_columns(words, WORDS) @ np.array([1, 2, 3]), atol=1e-9)

    numeric = lm.rate(prompts[:1], ["-2", "0", "2.5"])
    pn = p_columns(numeric, ["-2", "0", "2.5"])[0]
    assert numeric["expected"][0] == pytest.approx(pn @ np.array([-2, 0, 2.5]))


# ----------------------------------------------------------------------------- chat template
@pytest.mark.parametrize("family", ["tiny-llama", "tiny-gpt2"])
def test_chat_template(family: str) -> None:
    lm = tiny(family)
    tok = lm.tokenizer
    assert not lm.instruct
    prompt = "Rate it from 1 to 5."
    with record(lm.layout.embed) as ids:
        plain = lm.rate([prompt], LIKERT)
    assert "<start_of_turn>" not in tok.decode(ids[0][0]) and "<|im_start|>" not in tok.decode(ids[0][0])

    with record(lm.layout.embed) as ids:
        df = lm.rate([prompt], LIKERT, chat=True, system="Be brief.")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    seq = ids[0][0].tolist()
    assert seq == tok(rendered, add_special_tokens=False)["input_ids"]  # options follow directly
    if family == "tiny-llama":
        assert "<start_of_turn>user\n" + prompt in rendered and rendered.endswith("<start_of_turn>model\n")
        assert seq[0] == tok.bos_token_id and seq.count(tok.bos_token_id) == 1
    else:
        assert "<|im_start|>user\n" + prompt in rendered and rendered.endswith("<|im_start|>assistant\n")
        assert "<|im_start|>system\nBe brief." in rendered
    probs, mass = reference(lm, [rendered], LIKERT, sep="", add_special=False)
    np.testing.assert_allclose(p_columns(df, LIKERT), probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(df["mass"], mass, rtol=1e-4)
    assert not np.allclose(p_columns(df, LIKERT), p_columns(plain, LIKERT), atol=1e-4)


def test_chat_errors() -> None:
    lm = tiny("tiny-gpt2")
    with pytest.raises(ValueError, match="system"):
        lm.rate(["x"], LIKERT, system="Be brief.")


# ----------------------------------------------------------------------------- interventions
@pytest.mark.parametrize("options", [LIKERT, WORDS], ids=["likert", "words"])
def test_steering_changes_and_restores(options: list[str]) -> None:
    lm = tiny("tiny-llama")
    before = lm.rate(PROMPTS, options)
    v = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0))
    with lm.steer(v, layers=[1], alpha=4.0, raw=True):
        steered = lm.rate(PROMPTS, options)
    after = lm.rate(PROMPTS, options)
    log_before, log_steered = np.log(p_columns(before, options)), np.log(p_columns(steered, options))
    assert np.abs(log_steered - log_before).max() > 1e-2
    assert np.array_equal(p_columns(after, options), p_columns(before, options))
    assert np.array_equal(after["mass"].to_numpy(), before["mass"].to_numpy())
    assert lm.last_positions is None


def test_steering_last_position() -> None:
    """positions='last' steers the token that predicts the answer, whatever the padding."""
    lm = tiny("tiny-gpt2")
    v = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(1))
    for prompt in PROMPTS:
        n = len(lm.tokenizer(prompt)["input_ids"])
        with lm.steer(v, layers=[2], alpha=3.0, raw=True, positions=[n - 1]):
            explicit = lm.rate([prompt], LIKERT)
        with lm.steer(v, layers=[2], alpha=3.0, raw=True, positions="last"):
            last = lm.rate(PROMPTS, LIKERT, batch_size=3)
        row = PROMPTS.index(prompt)
        np.testing.assert_allclose(p_columns(last, LIKERT)[row], p_columns(explicit, LIKERT)[0], atol=1e-5)
        assert lm.last_positions is None


# ----------------------------------------------------------------------------- bad input
def test_bad_input_errors_before_model_work() -> None:
    lm = tiny("tiny-llama")
    with record(lm.layout.embed) as calls:
        with pytest.raises(ValueError, match="empty"):
            lm.rate([], LIKERT)
        with pytest.raises(TypeError, match="single string"):
            lm.rate("Rate it:", LIKERT)
        with pytest.raises(TypeError, match=r"prompts\[1\]"):
            lm.rate(["ok", 3], LIKERT)
        with pytest.raises(TypeError, match=r"prompts\[0\]"):
            lm.rate([("context", "text")], LIKERT)
        with pytest.raises(ValueError, match=r"prompts\[1\]"):
            lm.rate(["ok", ""], LIKERT)
        with pytest.raises(ValueError, match=r"options\[1\] \(''\)"):
            lm.rate(["ok"], ["1", "", "3"])
        with pytest.raises(ValueError, match=r"options\[2\] \('1'\) repeats options\[0\]"):
            lm.rate(["ok"], ["1", "2", "1"])
        with pytest.raises(ValueError, match="at least two"):
            lm.rate(["ok"], ["1"])
        with pytest.raises(TypeError, match="single string"):
            lm.rate(["ok"], "12345")
        # ' 1' and '▁1' normalise to the same tokens in a sentencepiece-style tokenizer
        with pytest.raises(ValueError, match="same tokens as ' 1'"):
            lm.rate(["ok"], [" 1", "▁1"])
        with pytest.raises(ValueError, match="unknown token"):
            lm.rate(["ok"], ["1", "\U0001f600"])
        with pytest.raises(ValueError, match="values has 2 entries"):
            lm.rate(["ok"], LIKERT, values=[1, 2])
        with pytest.raises(ValueError, match="reverse has 1 entries"):
            lm.rate(["ok", "fine"], LIKERT, reverse=[True])
        with pytest.raises(ValueError, match="batch_size"):
            lm.rate(["ok"], LIKERT, batch_size=0)
    assert calls == []
    assert lm.last_positions is None


# ----------------------------------------------------------------------------- real models
@functools.cache
def real(name: str) -> LanguageModel:
    return load_model(name)


@pytest.mark.real
def test_gemma_likert_matches_reference() -> None:
    lm = real("gemma-3-270m")
    options = ["1", "2", "3", "4", "5", "6"]
    prompts = [
        "On a scale from 1 (strongly disagree) to 6 (strongly agree), how much do you agree that "
        f"{s}?\nAnswer:"
        for s in (
            "honesty matters more than loyalty",
            "people should obey the law even when it is unjust",
            "tradition deserves respect",
        )
    ]
    df = lm.rate(prompts, options, batch_size=4)
    probs, mass = reference(lm, prompts, options, trim=True)
    np.testing.assert_allclose(p_columns(df, options), probs, atol=1e-4, rtol=0)
    np.testing.assert_allclose(df["mass"], mass, rtol=1e-3)
    assert ((df["mass"] > 0) & (df["mass"] <= 1)).all()
    assert df["expected"].between(1, 6).all()


@pytest.mark.real
def test_smollm2_chat_matches_reference() -> None:
    lm = real("smollm2-135m-instruct")
    assert lm.instruct
    options = ["1", "2", "3", "4", "5"]
    prompts = [
        "How much do you agree that honesty matters more than loyalty? "
        "Answer with one number from 1 (strongly disagree) to 5 (strongly agree).",
        "How important is tradition to you? Answer with one number from 1 (not at all) to 5 (very).",
    ]
    with record(lm.layout.embed) as ids:
        df = lm.rate(prompts, options, prefix_cache=False)
    assert "<|im_start|>assistant\n" in lm.tokenizer.decode(ids[0][0])
    cached = lm.rate(prompts, options)  # the default system prompt runs once, through the KV cache
    np.testing.assert_allclose(p_columns(cached, options), p_columns(df, options), atol=1e-5, rtol=0)
    rendered = [
        lm.tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    probs, mass = reference(lm, rendered, options, sep="", add_special=False, trim=True)
    np.testing.assert_allclose(p_columns(df, options), probs, atol=1e-4, rtol=0)
    np.testing.assert_allclose(df["mass"], mass, rtol=1e-3)
    assert ((df["mass"] > 0.01) & (df["mass"] <= 1)).all()


# ----------------------------------------------------------------------------- shared-prefix KV cache
INSTRUCTION = (
    "Read the statement below carefully and rate how much you agree with it, on a scale "
    "from 1 to 5, where 1 means not at all and 5 means completely.\nStatement: "
)
STATEMENTS = [
    "The river is wide.",
    "Honesty matters more than winning a game of cards.",
    "Cats sleep.",
    "No.",
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("options", [LIKERT, WORDS], ids=["likert", "words"])
def test_prefix_cache_gives_the_same_probabilities_and_runs_the_prefix_once(
    family: str, options: list[str]
) -> None:
    lm = tiny(family)  # tiny-gemma3's sliding window (8 tokens) is shorter than the shared prefix
    prompts = [INSTRUCTION + s + "\nAnswer:" for s in STATEMENTS] + PROMPTS
    plain = lm.rate(prompts, options, prefix_cache=False)
    with record(lm.layout.embed) as ids:
        cached = lm.rate(prompts, options, prefix_cache=True)
    np.testing.assert_allclose(p_columns(cached, options), p_columns(plain, options), atol=2e-5, rtol=0)
    np.testing.assert_allclose(cached["mass"], plain["mass"], rtol=2e-4)
    n_prefix = len(lm.tokenizer(INSTRUCTION)["input_ids"]) - 2
    widths = [int(x.shape[1]) for x in ids if x.shape[0] == 1]
    assert widths and max(widths) >= n_prefix  # the instruction ran once, as one row
    assert sum(int(x.shape[0] * x.shape[1]) for x in ids) < sum(
        len(lm.tokenizer(p)["input_ids"]) for p in prompts
    ) * (2 if options == WORDS else 1)


def test_prefix_cache_under_interventions() -> None:
    lm = tiny("tiny-gemma3")
    prompts = [INSTRUCTION + s + "\nAnswer:" for s in STATEMENTS]
    d = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0))
    points = list(range(lm.n_layers + 1))
    with (
        lm.ablate(d, layers=points, keep_special=True, center="reference"),
        lm.steer(d, layers=[2], alpha=0.5),
    ):
        plain = lm.rate(prompts, LIKERT, prefix_cache=False)
        cached = lm.rate(prompts, LIKERT)
    np.testing.assert_allclose(p_columns(cached, LIKERT), p_columns(plain, LIKERT), atol=2e-5, rtol=0)
    with lm.steer(d, layers=[2], alpha=0.5, positions="last"):
        with pytest.raises(ValueError, match="positions"):
            lm.rate(prompts, LIKERT, prefix_cache=True)
        with record(lm.layout.embed) as ids:
            lm.rate(prompts, LIKERT)  # falls back to whole sequences: "last" stays the decision token
    assert all(x.shape[0] == len(prompts) for x in ids)


@pytest.mark.parametrize("family", ["tiny-llama", "tiny-gemma3", "tiny-gpt2"])
def test_prefix_runs_once_for_every_batch_that_shares_it(family: str) -> None:
    lm = tiny(family)
    prompts = [INSTRUCTION + s + "\nAnswer:" for s in STATEMENTS * 2]  # 8 prompts, 4 batches of 2
    plain = lm.rate(prompts, LIKERT, prefix_cache=False, batch_size=2)
    with record(lm.layout.embed) as ids:
        cached = lm.rate(prompts, LIKERT, prefix_cache=True, batch_size=2)
    np.testing.assert_allclose(p_columns(cached, LIKERT), p_columns(plain, LIKERT), atol=2e-5, rtol=0)
    assert [int(x.shape[0]) for x in ids].count(1) == 1  # one prefix forward
    assert [int(x.shape[0]) for x in ids].count(2) == 4  # then the four batches' suffixes


def test_a_prompt_longer_than_the_model_reads_is_named() -> None:
    from tests.conftest import get_model

    lm = get_model("tiny-llama")
    with pytest.raises(ValueError, match=r"prompts\[1\] is \d+ tokens .* at most 512 positions"):
        lm.rate(["Short.", "word " * 600], ["1", "2"])


# ----------------------------------------------------------------------------- prefix groups
def test_prefix_groups_give_each_instruction_its_own_prefix() -> None:
    """A 20-token system prompt, then two 30-token instructions with ten 10-token items each: one group
    per instruction (prefix 50), not one group sharing the system prompt (prefix 20)."""
    from valuescope.readout.rating_batches import prefix_groups

    lengths = [60] * 20
    shared = [50] * 9 + [20] + [50] * 9
    assert prefix_groups(lengths, shared) == [(0, 10, 50), (10, 20, 50)]


def test_prefix_groups_keep_one_group_when_splitting_saves_nothing() -> None:
    from valuescope.readout.rating_batches import PREFIX_TOKEN_COST, prefix_groups

    # two sequences that share 40 tokens, then 41 and 45 with the next: the split would run two
    # prefixes for one extra shared token each
    lengths = [50, 50, 50]
    shared = [41, 40]
    assert prefix_groups(lengths, shared) == [(0, 3, 40)]
    # cost check by hand: one group 2*40 + 3*10 = 110; split (0,2 @41) + (2,3 alone) = 2*41 + 18 + 50
    assert PREFIX_TOKEN_COST * 40 + 3 * 10 < PREFIX_TOKEN_COST * 41 + 2 * 9 + 50


def test_prefix_groups_leave_unrelated_sequences_alone() -> None:
    from valuescope.readout.rating_batches import MIN_PREFIX, prefix_groups

    assert prefix_groups([12, 9, 30], [1, MIN_PREFIX - 1]) == [(0, 1, 0), (1, 2, 0), (2, 3, 0)]
    assert prefix_groups([5], []) == [(0, 1, 0)]
    assert prefix_groups([], []) == []
    with pytest.raises(ValueError, match="shared has 2 entries for 2 sequences"):
        prefix_groups([5, 5], [3, 3])


def test_prompts_of_several_instructions_run_each_instruction_as_a_prefix() -> None:
    lm = tiny("tiny-llama")
    second = "Now judge something else entirely: how long is the sentence below, from 1 to 5?\nStatement: "
    prompts = [head + s + "\nAnswer:" for head in (INSTRUCTION, second) for s in STATEMENTS * 3]
    plain = lm.rate(prompts, LIKERT, prefix_cache=False)
    with record(lm.layout.embed) as ids:
        cached = lm.rate(prompts, LIKERT, prefix_cache=True)
    np.testing.assert_allclose(p_columns(cached, LIKERT), p_columns(plain, LIKERT), atol=2e-5, rtol=0)
    prefixes = sorted(int(x.shape[1]) for x in ids if x.shape[0] == 1)
    heads = sorted(len(lm.tokenizer(h)["input_ids"]) - 1 for h in (INSTRUCTION, second))
    assert len(prefixes) == 2  # each instruction ran once, whole (bar a token merged with the statement)
    assert all(p >= h - 1 for p, h in zip(prefixes, heads, strict=True))


# ----------------------------------------------------------------------------- without the option mass
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("options", [LIKERT, WORDS, ["1", "10", "2"]], ids=["likert", "words", "prefix"])
def test_without_mass_the_probabilities_are_the_same(family: str, options: list[str]) -> None:
    """The normaliser left out at the decision position cancels in the renormalised probabilities; the
    options' later tokens (multi-token words, '10' after '1') still get theirs."""
    lm = tiny(family)
    full = lm.rate(PROMPTS, options)
    fast = lm.rate(PROMPTS, options, mass=False)
    np.testing.assert_allclose(p_columns(fast, options), p_columns(full, options), atol=1e-6, rtol=0)
    np.testing.assert_allclose(fast["expected"], full["expected"], atol=1e-5, rtol=0)
    assert fast["mass"].isna().all()
    assert list(fast.columns) == list(full.columns)


def test_without_mass_the_decision_position_skips_the_normaliser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Single-token options need no vocabulary-wide normaliser at all without the mass."""
    from valuescope.readout.head import Head

    lm = tiny("tiny-gemma3")
    calls: list[int] = []
    original = Head.log_normaliser

    def counted(self: Head, h: torch.Tensor) -> torch.Tensor:
        calls.append(h.shape[0])
        return original(self, h)

    monkeypatch.setattr(Head, "log_normaliser", counted)
    lm.rate(PROMPTS, LIKERT, mass=False)
    assert calls == []
    lm.rate(PROMPTS, LIKERT)
    assert sum(calls) >= len(PROMPTS)


def test_prepared_rating_without_mass_under_a_steer() -> None:
    from valuescope.readout.ratings import PreparedRating

    lm = tiny("tiny-llama")
    vector = torch.randn(lm.d_model)
    full = PreparedRating(lm, PROMPTS, WORDS)
    fast = PreparedRating(lm, PROMPTS, WORDS, mass=False)
    full(), fast()  # the unedited recordings
    with lm.steer(vector, [1], alpha=4.0):
        a, b = full(), fast()
    np.testing.assert_allclose(p_columns(b, WORDS), p_columns(a, WORDS), atol=1e-6, rtol=0)
    assert b["mass"].isna().all() and a["mass"].notna().all()
