"""Generation: exactness against transformers, batch independence, sampling semantics, stops, chat."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import get_model
from transformers import DynamicCache
from transformers.generation.logits_process import TopPLogitsWarper

from valuescope.language_model import LanguageModel
from valuescope.readout import decoding, kv_cache
from valuescope.readout.arguments import Sampling
from valuescope.readout.decoding import Generation, _LastLogits
from valuescope.readout.generation import generate
from valuescope.readout.sampling import choose_tokens

FAMILIES = ["tiny-gpt2", "tiny-llama", "tiny-qwen3", "tiny-gemma3", "tiny-gptneox"]
PROMPTS = [
    "The weather today is",
    "A",
    "Kindness matters because people often remember how others treated them in hard times",
    "Rate it from 1 to 7:",
    "Honesty",
    "She walked to the market and bought some bread",
    "0 1 2 3",
    "Most people agree that",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models() -> dict[str, LanguageModel]:
    return {name: get_model(name) for name in FAMILIES}


def hf_greedy(lm: LanguageModel, ids: list[int], n: int) -> list[int]:
    """transformers' own greedy continuation of one unpadded prompt."""
    x = torch.tensor([ids])
    out = lm.model.generate(
        input_ids=x,
        attention_mask=torch.ones_like(x),
        do_sample=False,
        max_new_tokens=n,
        pad_token_id=lm.tokenizer.pad_token_id,
    )
    return [int(t) for t in out[0, x.shape[1] :]]


def until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos) + 1] if eos in ids else ids


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_equals_transformers_and_padding_is_exact(
    models: dict[str, LanguageModel], family: str
) -> None:
    """Lone prompts match ``model.generate``; left-padded in one batch, every prompt still does.

    The longest prompt (17+ tokens) exceeds tiny-gemma3's sliding window of 8, and GPT-2 has
    absolute positions, so both the window and explicit position ids are exercised.
    """
    lm = models[family]
    n = 20
    batched = generate(lm, PROMPTS, max_new_tokens=n, return_details=True)
    eos = lm.tokenizer.eos_token_id
    for prompt, got in zip(PROMPTS, batched, strict=True):
        ids = lm.tokenizer(prompt)["input_ids"]
        assert got.prompt_tokens == len(ids)
        assert got.token_ids == until_eos(hf_greedy(lm, ids, n), eos), prompt
        alone = generate(lm, [prompt], max_new_tokens=n, return_details=True)[0]
        assert alone == got
        assert got.text == lm.tokenizer.decode(
            [t for t in got.token_ids if t != eos], skip_special_tokens=True
        )


def test_logit_softcapping_and_hooks_on_the_head_are_honoured(models: dict[str, LanguageModel]) -> None:
    """The last-position logits are computed outside the model's forward; they must still equal the
    model's own, with Gemma's final logit soft-capping and with a hook on the LM head."""
    lm = models["tiny-gemma3"]
    enc = lm.tokenizer(PROMPTS[2:4], return_tensors="pt", padding=True)

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            want = lm.model(**enc).logits[:, -1]
            got = _LastLogits(lm, 2)(lm.layout.body(**enc).last_hidden_state)
        return got, want

    config = lm.model.config
    assert config.final_logit_softcapping is None
    config.final_logit_softcapping = 0.5
    try:
        got, want = both()
        assert want.abs().max() <= 0.5
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)  # a matmul of another shape
        sampled = generate(lm, PROMPTS[:4], max_new_tokens=8, temperature=1.0, seed=1)
    finally:
        config.final_logit_softcapping = None
    assert sampled != generate(lm, PROMPTS[:4], max_new_tokens=8, temperature=1.0, seed=1)

    ids = lm.tokenizer(PROMPTS[2])["input_ids"]
    banned = hf_greedy(lm, ids, 1)[0]

    def ban(_mod: torch.nn.Module, _args: object, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        out[..., banned] = -1e9
        return out

    handle = lm.layout.lm_head.register_forward_hook(ban)
    try:
        got, want = both()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        hooked = generate(lm, PROMPTS[2:3], max_new_tokens=12, return_details=True, progress=True)[0]
        assert hooked.token_ids == hf_greedy(lm, ids, 12)
        assert banned not in hooked.token_ids
    finally:
        handle.remove()


@pytest.mark.parametrize("family", ["tiny-gemma3", "tiny-gpt2"])
def test_in_place_kv_cache_equals_dynamic_cache(
    models: dict[str, LanguageModel], family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preallocated cache gives what transformers' DynamicCache gives, also when it must grow
    and, on tiny-gemma3's sliding layers (window 8), move the window back to the buffer's start."""
    lm = models[family]
    kw = dict(max_new_tokens=30, temperature=1.0, seed=2, return_details=True)
    want = generate(lm, PROMPTS, **kw)
    built = decoding.make_cache
    monkeypatch.setattr(decoding, "make_cache", lambda config, capacity: DynamicCache(config=config))
    assert generate(lm, PROMPTS, **kw) == want
    caches: list[DynamicCache] = []

    def tiny_buffers(config: object, capacity: int) -> DynamicCache:
        caches.append(built(config, 3))
        return caches[-1]

    monkeypatch.setattr(decoding, "make_cache", tiny_buffers)
    assert generate(lm, PROMPTS, **kw) == want
    layers = caches[0].layers
    assert all(isinstance(layer, kv_cache._Buffer) for layer in layers)
    assert max(layer.capacity for layer in layers) > 3  # grew


# --------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("family", ["tiny-gpt2", "tiny-gemma3"])
def test_sampled_text_does_not_depend_on_the_batch(models: dict[str, LanguageModel], family: str) -> None:
    lm = models[family]
    kw = dict(max_new_tokens=24, temperature=1.0, top_p=0.9, seed=11)
    whole = generate(lm, PROMPTS, batch_size=8, **kw)
    assert generate(lm, PROMPTS, batch_size=1, **kw) == whole
    assert generate(lm, PROMPTS, batch_size=3, **kw) == whole
    # The prompt at index 0 alone, and beside seven other prompts of other lengths.
    assert generate(lm, PROMPTS[:1], **kw)[0] == whole[0]
    others = [PROMPTS[0], *reversed(PROMPTS[1:])]
    assert generate(lm, others, **kw)[0] == whole[0]
    assert len(set(whole)) == len(whole)


def test_same_seed_same_text_other_seed_other_text(models: dict[str, LanguageModel]) -> None:
    lm = models["tiny-llama"]
    kw = dict(max_new_tokens=16, temperature=1.0, top_k=50)
    a = generate(lm, PROMPTS[:4], seed=1, **kw)
    assert generate(lm, PROMPTS[:4], seed=1, **kw) == a
    assert generate(lm, PROMPTS[:4], seed=2, **kw) != a
    # The same prompt twice in one call gets two streams.
    twice = generate(lm, [PROMPTS[0], PROMPTS[0]], seed=1, **kw)
    assert twice[0] == a[0] and twice[1] != twice[0]


def test_tiny_top_p_and_top_k_1_are_greedy(models: dict[str, LanguageModel]) -> None:
    lm = models["tiny-qwen3"]
    greedy = generate(lm, PROMPTS, max_new_tokens=16)
    assert generate(lm, PROMPTS, max_new_tokens=16, temperature=1.0, top_p=1e-6, seed=5) == greedy
    assert generate(lm, PROMPTS, max_new_tokens=16, temperature=2.0, top_k=1, seed=5) == greedy


def _nucleus_probs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """transformers' definition: temperature, then TopPLogitsWarper, then softmax."""
    warped = TopPLogitsWarper(top_p)(None, logits.double()[None] / temperature)  # type: ignore[arg-type]
    return torch.softmax(warped, -1)[0]


@pytest.mark.parametrize(
    ("top_p", "vocab"), [(0.3, 1000), (0.8, 1000), (0.97, 1000), (1.0, 1000), (1.0, 1024)]
)
def test_inverse_cdf_on_a_grid_equals_nucleus_probabilities(top_p: float, vocab: int) -> None:
    """Stratified uniforms turn the sampler into a quadrature: each token's share of a grid of G
    points differs from its nucleus probability by at most 1/G, so this checks exact top-p
    semantics (support and weights) without randomness. ``n_candidates=8`` forces the wider
    candidate sets (8, 64, 512, all) and must pick the same tokens. top_p=1 is plain sampling
    over the whole vocabulary (by blocks of 256 tokens when the vocabulary divides into them)."""
    gen = torch.Generator().manual_seed(0)
    grid = 2000
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    sizes = []
    for temperature in (0.7, 1.0, 1.6):
        logits = torch.randn(vocab, generator=gen) * 3
        want = _nucleus_probs(logits, temperature, top_p)
        sizes.append(int(want.count_nonzero()))
        s = Sampling(temperature, top_p, 0)
        rows = logits.expand(grid, vocab).clone()
        picked = choose_tokens(rows, u, s)
        assert torch.equal(choose_tokens(rows, u, s, n_candidates=8), picked)
        assert torch.equal(choose_tokens(rows, u, s, n_candidates=vocab), picked)
        counts = torch.bincount(picked, minlength=vocab).double() / grid
        assert set(counts.nonzero().flatten().tolist()) <= set(want.nonzero().flatten().tolist())
        assert (counts - want).abs().max() <= 1.0 / grid + 1e-9
    assert max(sizes) > 8  # nuclei from 1 to all tokens: the wider candidate sets were needed


def test_top_k_then_top_p_on_a_grid() -> None:
    logits = torch.randn(500, generator=torch.Generator().manual_seed(1)) * 2
    grid = 2000
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    picked = choose_tokens(logits.expand(grid, -1).clone(), u, Sampling(1.0, 0.9, 20))
    top = torch.topk(logits, 20).indices
    restricted = torch.full_like(logits, -math.inf)
    restricted[top] = logits[top]
    want = _nucleus_probs(restricted, 1.0, 0.9)
    counts = torch.bincount(picked, minlength=500).double() / grid
    assert (counts - want).abs().max() <= 1.0 / grid + 1e-9


def test_sampled_first_token_frequencies_match_softmax(models: dict[str, LanguageModel]) -> None:
    """N independent first tokens (one prompt repeated: one random stream per index) against the
    model's softmax. Each of the 6 buckets (top 5 tokens, rest) is within 4.5 standard errors
    sqrt(p(1-p)/N): a false alarm has probability below 6 * 7e-6."""
    lm = models["tiny-gpt2"]
    prompt, n = "The weather today is", 3000
    with torch.inference_mode():
        logits = lm.model(**lm.tokenizer(prompt, return_tensors="pt")).logits[0, -1]
    probs = torch.softmax(logits.double(), -1)
    out = generate(
        lm, [prompt] * n, max_new_tokens=1, temperature=1.0, seed=7, batch_size=1000, return_details=True
    )
    first = Counter(g.token_ids[0] for g in out)
    top = torch.topk(probs, 5).indices.tolist()
    buckets = [(float(probs[t]), first[t] / n) for t in top]
    buckets.append((1.0 - sum(p for p, _ in buckets), 1.0 - sum(f for _, f in buckets)))
    for p, f in buckets:
        assert abs(f - p) <= 4.5 * math.sqrt(p * (1 - p) / n), (p, f)


# --------------------------------------------------------------------------- stops and EOS
def first_new_substring(text: str, start: int, size: int = 3) -> str:
    """The first ``size``-character piece at or after ``start`` that does not occur earlier."""
    for i in range(start, len(text) - size):
        if text.find(text[i : i + size]) == i:
            return text[i : i + size]
    raise AssertionError(f"no new substring in {text!r}")


def test_stop_strings_cut_the_text_before_the_first_one(models: dict[str, LanguageModel]) -> None:
    lm = models["tiny-llama"]
    full = generate(lm, PROMPTS[:1], max_new_tokens=30, return_details=True)[0]
    assert full.finish_reason == "length" and len(full.token_ids) == 30
    text = full.text
    a = first_new_substring(text, 8)
    b = first_new_substring(text, text.find(a) + 6)
    got = generate(lm, PROMPTS[:1], max_new_tokens=30, stop=[b, a], return_details=True)[0]
    assert got.finish_reason == "stop"
    assert got.text == text[: text.find(a)]
    assert len(got.token_ids) < 30
    assert got.token_ids == full.token_ids[: len(got.token_ids)]
    assert generate(lm, PROMPTS[:1], max_new_tokens=30, stop="never appears in this text") == [text]


def test_eos_ends_a_row_and_the_others_go_on(models: dict[str, LanguageModel]) -> None:
    """Make a token that greedy decoding emits early an EOS: rows that reach it end there (their
    text excludes it) and are dropped from the batch; every row still equals its lone run."""
    lm = models["tiny-gemma3"]
    free = generate(lm, PROMPTS, max_new_tokens=12, return_details=True)
    token = free[0].token_ids[4]
    config = lm.model.generation_config
    saved = config.eos_token_id
    config.eos_token_id = [saved, token]
    try:
        got = generate(lm, PROMPTS, max_new_tokens=12, return_details=True)
        for prompt, g, f in zip(PROMPTS, got, free, strict=True):
            assert g == generate(lm, [prompt], max_new_tokens=12, return_details=True)[0]
            if token in f.token_ids:
                end = f.token_ids.index(token) + 1
                assert g.finish_reason == "eos" and g.token_ids == f.token_ids[:end]
                assert g.text == lm.tokenizer.decode(g.token_ids[:-1], skip_special_tokens=True)
            else:
                assert g.token_ids == f.token_ids
        assert got[0].finish_reason == "eos" and len(got[0].token_ids) <= 5
    finally:
        config.eos_token_id = saved


# --------------------------------------------------------------------------- chat
@pytest.mark.parametrize("family", ["tiny-llama", "tiny-qwen3"])
def test_chat_template_path(models: dict[str, LanguageModel], family: str) -> None:
    """The prompt is the user turn (after an optional system turn) with the generation prompt;
    tiny-llama's template writes BOS itself and it must not be added again."""
    lm = models[family]
    tok = lm.tokenizer
    assert not lm.instruct
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPTS[0]}]
    ids = list(tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False))
    assert ids.count(tok.bos_token_id) <= 1
    got = generate(lm, PROMPTS[:1], max_new_tokens=10, chat=True, system="Be brief.", return_details=True)[0]
    assert got.prompt_tokens == len(ids)
    assert got.token_ids == until_eos(hf_greedy(lm, ids, 10), tok.eos_token_id)
    plain = generate(lm, PROMPTS[:1], max_new_tokens=10, return_details=True)[0]
    assert plain.prompt_tokens == len(tok(PROMPTS[0])["input_ids"])  # chat=None: not instruct, no template


# --------------------------------------------------------------------------- interventions
def test_steering_changes_greedy_output_at_every_step(models: dict[str, LanguageModel]) -> None:
    lm = models["tiny-llama"]
    v = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(3))
    before = generate(lm, PROMPTS[:3], max_new_tokens=16, return_details=True)
    with lm.steer(v, layers=[1], alpha=5, raw=True):
        steered = generate(lm, PROMPTS[:3], max_new_tokens=16, return_details=True)
        for prompt, s in zip(PROMPTS[:3], steered, strict=True):  # hooks act on cached decode steps too
            ids = lm.tokenizer(prompt)["input_ids"]
            assert s.token_ids == until_eos(hf_greedy(lm, ids, 16), lm.tokenizer.eos_token_id)
    assert [s.text for s in steered] != [b.text for b in before]
    assert generate(lm, PROMPTS[:3], max_new_tokens=16, return_details=True) == before


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(prompts="hello"), TypeError, "prompts must be a list"),
        (dict(prompts=[]), ValueError, "prompts is empty"),
        (dict(prompts=["ok", 3]), TypeError, r"prompts\[1\]"),
        (dict(prompts=["ok", ""]), ValueError, r"prompts\[1\] is an empty string"),
        (dict(temperature=-0.5), ValueError, "temperature"),
        (dict(temperature=float("nan")), ValueError, "temperature"),
        (dict(temperature="hot"), TypeError, "temperature"),
        (dict(top_p=0.0), ValueError, "top_p"),
        (dict(top_p=1.5), ValueError, "top_p"),
        (dict(top_k=-1), ValueError, "top_k"),
        (dict(top_k=2.5), ValueError, "top_k"),
        (dict(max_new_tokens=0), ValueError, "max_new_tokens"),
        (dict(max_new_tokens=10_000), ValueError, "max_new_tokens"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(stop=[""]), ValueError, "stop"),
        (dict(chat="yes"), TypeError, "chat"),
        (dict(system="Be brief."), ValueError, "system"),
    ],
)
def test_bad_arguments_fail_before_any_model_work(
    models: dict[str, LanguageModel], kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    lm = models["tiny-gpt2"]

    def forbid(*_: object) -> None:
        raise AssertionError("the model ran")

    handle = lm.model.register_forward_pre_hook(forbid)
    try:
        prompts = kwargs.pop("prompts", ["hello"])
        with pytest.raises(error, match=match):
            generate(lm, prompts, **kwargs)  # type: ignore[arg-type]
    finally:
        handle.remove()


def test_lm_generate_delegates(models: dict[str, LanguageModel]) -> None:
    lm = models["tiny-gpt2"]
    assert lm.generate(PROMPTS[:2], max_new_tokens=5) == generate(lm, PROMPTS[:2], max_new_tokens=5)
    details = lm.generate(PROMPTS[:1], max_new_tokens=5, return_details=True)
    assert isinstance(details[0], Generation)


# --------------------------------------------------------------------------- real model
@pytest.mark.real
def test_smollm2_chat_generation_is_sane_and_seeded() -> None:
    lm = get_model("smollm2-135m-instruct")
    assert lm.instruct
    prompts = ["What is kindness?", "Name a colour."]
    kw = dict(max_new_tokens=8, temperature=0.8, top_p=0.95, seed=4, return_details=True)
    a = generate(lm, prompts, **kw)
    assert all(g.text.strip() for g in a)
    assert all(g.prompt_tokens > len(lm.tokenizer(p)["input_ids"]) for g, p in zip(a, prompts, strict=True))
    assert generate(lm, prompts, **kw) == a


def test_steer_each_gives_each_prompt_what_its_own_steer_gives() -> None:
    """One batched generation with a vector per prompt equals one generation per vector (greedy),
    whatever the batch composition and however rows finish early."""
    import torch

    from tests.conftest import get_model

    lm = get_model("tiny-llama")
    prompts = ["The cat", "A long sentence about the weather today", "Hello"]
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(3, lm.d_model, generator=g)
    alphas = [0.5, 2.0, 4.0]
    expected = []
    for p, v, a in zip(prompts, vectors, alphas, strict=True):
        with lm.steer(v, [1], alpha=a):
            expected.append(lm.generate([p], max_new_tokens=8)[0])
    with lm.steer_each(vectors, [1], alphas=alphas):
        got = lm.generate(prompts, max_new_tokens=8, batch_size=2)
    assert got == expected
    with lm.steer_each(vectors, [1]), pytest.raises(RuntimeError, match=r"only inside lm\.generate"):
        lm.residuals(prompts, layers=[1])
    with pytest.raises(ValueError, match="alphas"):
        lm.steer_each(vectors, [1], alphas=[1.0])


def _partition_cost(lengths: list[int], bounds: list[tuple[int, int]], steps: int) -> float:
    from valuescope.readout.generation import STEP_TOKENS

    return sum(lengths[a] * (b - a) + STEP_TOKENS * steps for a, b in bounds)


def test_decoding_batches_are_the_cheapest_split() -> None:
    """Consecutive batches of at most max_rows covering every prompt once, at the least cost of every
    possible split (checked against all of them), and long prompts kept apart from many short ones."""
    import itertools

    from valuescope.readout.generation import decoding_batches

    rng = np.random.default_rng(0)
    for _ in range(30):
        n, max_rows, steps = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        lengths = sorted(rng.integers(1, 400, n).tolist(), reverse=True)
        got = decoding_batches(lengths, max_rows, steps)
        assert [a for a, _ in got] == [0] + [b for _, b in got[:-1]] and got[-1][1] == n
        assert all(0 < b - a <= max_rows for a, b in got)
        best = min(
            _partition_cost(lengths, list(zip((0, *cuts), (*cuts, n), strict=True)), steps)
            for k in range(n)
            for cuts in itertools.combinations(range(1, n), k)
            if all(0 < b - a <= max_rows for a, b in zip((0, *cuts), (*cuts, n), strict=True))
        )
        assert _partition_cost(lengths, got, steps) == pytest.approx(best)
    assert decoding_batches([100] * 4 + [20] * 100, 128, 12) == [(0, 4), (4, 104)]
    assert len(decoding_batches([30] * 200, 128, 12)) == 2


def test_default_batch_size_is_larger_on_the_cpu() -> None:
    from valuescope.readout.generation import BATCH_SIZE, default_batch_size

    lm = get_model("tiny-llama")
    assert lm.device.type == "cpu" and default_batch_size(lm) == BATCH_SIZE["cpu"] == 128


# --------------------------------------------------------------------------- equal prompts share a prefill
@pytest.mark.parametrize("family", ["tiny-llama", "tiny-gemma3"])
def test_equal_prompts_are_prefilled_once_with_the_same_texts(
    models: dict[str, LanguageModel], family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Samples of one prompt share its prefill (one row per distinct prompt) and give the texts each would
    give prefilled on its own."""
    from valuescope.readout import generation

    lm = models[family]
    prompts = [PROMPTS[0]] * 5 + [PROMPTS[2], PROMPTS[5]] * 3 + [PROMPTS[4]]
    kw = dict(max_new_tokens=12, temperature=1.0, top_p=0.95, seed=3)
    first_batch: list[int] = []

    def record(_m: object, args: tuple[torch.Tensor, ...]) -> None:
        first_batch.append(args[0].shape[0])

    handle = lm.layout.embed.register_forward_pre_hook(record)
    try:
        shared = generate(lm, prompts, **kw)
    finally:
        handle.remove()
    assert first_batch[0] == 4  # four distinct prompts prefilled, then 12 rows decoding
    assert first_batch[1] == len(prompts)
    monkeypatch.setattr(generation, "prefill_groups", lambda _lm, encoded: list(range(len(encoded))))
    alone = generate(lm, prompts, **kw)
    assert shared == alone
    assert len(set(shared[:5])) > 1  # the samples of one prompt still differ


def test_equal_prompts_under_different_edits_are_not_merged(models: dict[str, LanguageModel]) -> None:
    lm = models["tiny-llama"]
    steer = lm.steer(torch.randn(lm.d_model), [1], alpha=8.0)
    prompts = [PROMPTS[0]] * 2
    with lm.edit_each([None, steer], [0, 1]):
        both = generate(lm, prompts, max_new_tokens=10)
    assert both[0] == generate(lm, prompts[:1], max_new_tokens=10)[0]
    with steer:
        assert both[1] == generate(lm, prompts[:1], max_new_tokens=10)[0]
    assert both[0] != both[1]


def test_decoding_batches_count_a_run_of_equal_prompts_once() -> None:
    from valuescope.readout.generation import decoding_batches

    # 16 samples each of 8 prompts: one batch prefills 8 rows, so splitting never pays
    lengths = [50] * 128 + [10] * 128
    starts = [k % 16 == 0 for k in range(256)]
    assert decoding_batches(lengths, 256, 4, starts) == [(0, 256)]
    # counted per row, the long prompts' padding makes a split cheaper
    assert decoding_batches(lengths, 256, 4) == [(0, 128), (128, 256)]


def test_decoding_batches_with_runs_are_the_cheapest_split() -> None:
    import itertools

    from valuescope.readout.generation import STEP_TOKENS, decoding_batches

    def cost(lengths: list[int], starts: list[bool], bounds: list[tuple[int, int]], steps: int) -> float:
        return sum(lengths[a] * (1 + sum(starts[a + 1 : b])) + STEP_TOKENS * steps for a, b in bounds)

    rng = np.random.default_rng(1)
    for _ in range(30):
        n, max_rows, steps = int(rng.integers(1, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 3))
        lengths = sorted(rng.integers(1, 600, n).tolist(), reverse=True)
        starts = [True] + [bool(rng.random() < 0.5) or lengths[k] != lengths[k - 1] for k in range(1, n)]
        got = decoding_batches(lengths, max_rows, steps, starts)
        assert [a for a, _ in got] == [0] + [b for _, b in got[:-1]] and got[-1][1] == n
        splits = (
            list(zip((0, *cuts), (*cuts, n), strict=True))
            for k in range(n)
            for cuts in itertools.combinations(range(1, n), k)
        )
        best = min(
            cost(lengths, starts, b, steps) for b in splits if all(0 < y - x <= max_rows for x, y in b)
        )
        assert cost(lengths, starts, got, steps) == pytest.approx(best)


@pytest.mark.parametrize("family", ["tiny-llama", "tiny-gemma3"])
def test_one_prompt_under_many_edits_runs_the_blocks_below_them_once(
    models: dict[str, LanguageModel], family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of one prompt under different edits at read point 2 compute blocks 0-1 once per prompt (the
    edited prefill replays them) and give the texts a full prefill of every row gives."""
    from valuescope.readout import prefill

    lm = models[family]
    steers = [lm.steer(torch.randn(lm.d_model), [2], alpha=a) for a in (4.0, -4.0, 8.0)]
    prompts = [PROMPTS[0], PROMPTS[2]] * 4
    which = [0, 0, 1, 1, 2, 2, 3, 3]
    edits: list[object] = [None, *steers]
    kw = dict(max_new_tokens=10, temperature=1.0, seed=5)
    seen: list[tuple[int, int, int]] = []  # (block, rows, positions) of every block that computed
    block_type = type(lm.layout.blocks[0])
    index = {id(b): i for i, b in enumerate(lm.layout.blocks)}
    original = block_type.forward

    def counted(self: torch.nn.Module, hidden_states: torch.Tensor, *a: object, **k: object) -> object:
        seen.append((index[id(self)], hidden_states.shape[0], hidden_states.shape[1]))
        return original(self, hidden_states, *a, **k)

    monkeypatch.setattr(block_type, "forward", counted)
    with lm.edit_each(edits, which):  # type: ignore[arg-type]
        replayed = generate(lm, prompts, **kw)
    prefill_rows = {b: rows for b, rows, positions in seen if positions > 1}
    assert prefill_rows[0] == prefill_rows[1] == 2  # two distinct prompts
    assert prefill_rows[2] == len(prompts)  # every (prompt, edit) from the edited block on
    monkeypatch.setattr(prefill, "replayable_blocks", lambda _layout: 0)
    with lm.edit_each(edits, which):  # type: ignore[arg-type]
        full = generate(lm, prompts, **kw)
    assert replayed == full
    assert len({replayed[i] for i in (0, 2, 4, 6)}) > 1  # the edits changed the texts
