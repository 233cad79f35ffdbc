"""Batched greedy or sampled text generation with a KV cache, reproducible per prompt.

Prompts are tokenized (through the chat template when asked), sorted by length and decoded in
left-padded batches: one prefill with explicit ``position_ids`` (so absolute-position models such
as GPT-2 see the same positions as for the prompt alone), then one token per step from a KV cache
that appends in place. Logits are computed for the last position only, into a reused buffer. Rows
that finish (EOS or a stop string) are dropped from the batch and the cache.

Sampling draws one uniform number per step from a ``torch.Generator`` seeded by (``seed``, the
prompt's index in the caller's list) and picks a token by inverse CDF over the probability-sorted
candidates, so a prompt's text depends only on its own logits and its own random stream, never on
the batch it shares. Top-p first looks at the few hundred most likely tokens and falls back to a
larger candidate set only for rows whose candidates hold less than ``top_p`` of the mass; the result
is exactly nucleus sampling (keep the most probable tokens while the mass before them is below
``top_p``). Equality across batch compositions is exact in arithmetic; in floating point a matrix
product of another shape can differ in the last bits, which flips a token only at a near tie.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedTokenizerBase
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

if TYPE_CHECKING:
    from valuescope.model import LocalModel

FinishReason = Literal["eos", "stop", "length"]

N_CANDIDATES = 512
"""Tokens examined first for top-p; rows whose candidates hold less than ``top_p`` look further."""
PROGRESS_MIN_TOKENS = 4096
"""``progress=None`` shows a bar when prompts x max_new_tokens reaches this."""


@dataclass(frozen=True)
class Generation:
    """One prompt's result with ``return_details=True``."""

    text: str
    """Generated text, prompt excluded, special tokens skipped, cut before any stop string."""
    token_ids: list[int]
    """Every generated token id, including a final EOS or the tokens that completed a stop string."""
    finish_reason: FinishReason
    """``eos``, ``stop`` (a stop string appeared) or ``length`` (``max_new_tokens`` reached)."""
    prompt_tokens: int
    """Number of tokens the model read as the prompt (after the chat template)."""


@dataclass(frozen=True)
class _Sampling:
    temperature: float
    top_p: float
    top_k: int

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0 or self.top_k == 1


# --------------------------------------------------------------------------- validation
def _check_prompts(prompts: object) -> list[str]:
    if isinstance(prompts, str | bytes):
        raise TypeError("prompts must be a list of strings, not a single string; wrap it: [prompt]")
    if not isinstance(prompts, Sequence):
        raise TypeError(f"prompts must be a list of strings, got {type(prompts).__name__}")
    if len(prompts) == 0:
        raise ValueError("prompts is empty; pass at least one prompt")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] is {type(p).__name__} ({p!r:.60}); every prompt must be a string")
        if not p:
            raise ValueError(f"prompts[{i}] is an empty string; give every prompt some text")
    return list(prompts)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    return int(value)


def _check_sampling(temperature: object, top_p: object, top_k: object) -> _Sampling:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise TypeError(f"temperature={temperature!r}: must be a number >= 0 (0 = greedy)")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature={temperature!r}: must be a finite number >= 0 (0 = greedy)")
    if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p={top_p!r}: must be a number in (0, 1] (1 = no nucleus truncation)")
    top_k = _check_int(top_k, "top_k", 0)
    return _Sampling(float(temperature), float(top_p), top_k)


def _check_stop(stop: object) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, Sequence) or not all(isinstance(s, str) and s for s in stop):
        raise ValueError(f"stop={stop!r:.80}: must be a list of non-empty strings")
    return list(stop)


# --------------------------------------------------------------------------- prompts
def _adds_bos(tokenizer: PreTrainedTokenizerBase) -> bool:
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids: list[int] = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def _encode_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: list[str], chat: bool, system: str | None
) -> list[list[int]]:
    """Token ids per prompt; ``chat`` goes through the template, with BOS once if the tokenizer uses one."""
    if not chat:
        return [list(ids) for ids in tokenizer(prompts)["input_ids"]]
    bos = tokenizer.bos_token_id if _adds_bos(tokenizer) else None
    head = [{"role": "system", "content": system}] if system is not None else []
    texts = [
        tokenizer.apply_chat_template(
            [*head, {"role": "user", "content": p}], add_generation_prompt=True, tokenize=False
        )
        for p in prompts
    ]
    out = []
    for ids in tokenizer([str(t) for t in texts], add_special_tokens=False)["input_ids"]:
        ids = list(ids)
        if bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
        out.append(ids)
    return out


def _eos_ids(lm: LocalModel) -> set[int]:
    ids: set[int] = set()
    gen_eos = getattr(lm.model.generation_config, "eos_token_id", None)
    for source in (gen_eos, lm.tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list | tuple):
            ids.update(int(i) for i in source)
    return ids


def max_positions(lm: LocalModel) -> int | None:
    """The most positions the model reads (from its config), or None if the config does not say."""
    config = lm.model.config
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def prompt_seed(seed: int, index: int) -> int:
    """The generator seed of the prompt at ``index`` in the caller's list."""
    state = np.random.SeedSequence([seed & (2**63 - 1), index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) | (int(state[1]) << 32)


def _uniforms(indices: list[int], seed: int, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """(len(indices), steps) uniforms in [0, 1); row i comes from prompt ``indices[i]``'s own generator."""
    out = torch.empty(len(indices), steps, dtype=dtype)
    g = torch.Generator()
    for row, i in enumerate(indices):
        g.manual_seed(prompt_seed(seed, i))
        out[row] = torch.rand(steps, generator=g, dtype=dtype)
    return out


# --------------------------------------------------------------------------- token choice
def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor, n_keep: torch.Tensor | None = None) -> torch.Tensor:
    """Index j with cumsum[j-1] <= u * total < cumsum[j] per row; ``probs`` (n, k), ``u`` (n,)."""
    c = probs.cumsum(-1)
    j = torch.searchsorted(c, (u * c[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    limit = (n_keep - 1) if n_keep is not None else torch.full_like(j, probs.shape[-1] - 1)
    return torch.minimum(j, limit)


def _nucleus(sorted_probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero the tokens after the nucleus (keep a token while the mass before it is below ``top_p``);
    also returns how many were kept and the mass of all the given tokens."""
    c = sorted_probs.cumsum(-1)
    keep = (c - sorted_probs) < top_p
    return sorted_probs * keep, keep.sum(-1), c[:, -1]


def _sample_all(x: torch.Tensor, u: torch.Tensor, scratch: torch.Tensor | None) -> torch.Tensor:
    """Inverse-CDF sampling from softmax(x) over the whole vocabulary, in vocabulary order: first
    the block of tokens (cumulative block sums in ``u``'s precision), then the token inside it."""
    n, vocab = x.shape
    e = scratch[:n] if scratch is not None and scratch.shape[1] == vocab else torch.empty_like(x)
    torch.sub(x, x.amax(-1, keepdim=True), out=e).exp_()
    size = next((b for b in (256, 128, 64, 32, 16) if vocab % b == 0), None)
    if size is None:
        return _inverse_cdf(e.to(u.dtype), u)
    blocks = e.view(n, vocab // size, size)
    sums = blocks.sum(-1).to(u.dtype)  # float32 sums of 256 terms: a float64 sum is far slower
    before = sums.cumsum(-1) - sums  # mass of the blocks before each block
    target = u * (before[:, -1] + sums[:, -1])
    b = (torch.searchsorted(before, target.unsqueeze(-1), right=True).squeeze(-1) - 1).clamp_(min=0)
    rows = torch.arange(n, device=x.device)
    inside = _inverse_cdf(blocks[rows, b].to(u.dtype), (target - before[rows, b]) / sums[rows, b])
    return b * size + inside


def _choose(
    logits: torch.Tensor,
    u: torch.Tensor,
    s: _Sampling,
    n_candidates: int = N_CANDIDATES,
    scratch: torch.Tensor | None = None,
    owned: bool = False,
) -> torch.Tensor:
    """Next token per row from last-position ``logits`` (n, vocab) with uniforms ``u`` (n,).

    Top-p looks at the ``n_candidates`` most likely tokens; rows whose candidates hold less than
    ``top_p`` of the mass look again at 8 times as many, up to the whole (sorted) vocabulary.
    ``scratch`` (at least n rows, float32) saves allocating a vocabulary-wide buffer per step;
    ``owned`` lets the temperature divide ``logits`` in place.
    """
    if s.greedy:
        return logits.argmax(-1)
    x = logits.float()
    if s.temperature != 1.0:
        x = x.div_(s.temperature) if owned and x is logits else x / s.temperature
    n, vocab = x.shape
    pdt = u.dtype
    restricted = 0 < s.top_k < vocab
    if not restricted and s.top_p >= 1.0:  # the whole distribution, in vocabulary order
        return _sample_all(x, u, scratch)
    if restricted:  # a fixed candidate set: no search for the nucleus
        vals, idx = torch.topk(x, s.top_k, dim=-1)
        probs = torch.softmax(vals.to(pdt), -1)
        n_keep = None
        if s.top_p < 1.0:
            probs, n_keep, _ = _nucleus(probs, s.top_p)
        return idx.gather(-1, _inverse_cdf(probs, u, n_keep).unsqueeze(-1)).squeeze(-1)
    k = min(n_candidates, vocab)
    vals, idx = torch.topk(x, k, dim=-1)
    # exp(x - max) once for the whole vocabulary: its sum normalises, its entries are the weights.
    e = scratch[:n] if scratch is not None and scratch.shape[1] == vocab else torch.empty_like(x)
    torch.sub(x, vals[:, :1], out=e).exp_()
    z = e.sum(-1, keepdim=True).to(pdt)
    out = torch.empty(n, dtype=torch.long, device=x.device)
    pending: torch.Tensor | None = None  # rows still looking for their nucleus; None = all
    while True:
        zs, us = (z, u) if pending is None else (z[pending], u[pending])
        es = e if pending is None else e[pending]
        probs, n_keep, mass = _nucleus(es.gather(-1, idx).to(pdt) / zs, s.top_p)
        pick = idx.gather(-1, _inverse_cdf(probs, us, n_keep).unsqueeze(-1)).squeeze(-1)
        covered = mass >= s.top_p
        if k == vocab:
            covered[:] = True
        if pending is None:
            out = pick
            pending = torch.arange(n, device=x.device)
        else:
            out[pending[covered]] = pick[covered]
        if bool(covered.all()):
            return out
        pending = pending[~covered]
        k = min(vocab, k * 8)
        idx = torch.topk(x[pending], k, dim=-1).indices


class _LastLogits:
    """Logits at the last position, written into a reused buffer (a fresh vocabulary-wide tensor per
    step costs page faults on the CPU). Falls back to calling the head when it carries hooks.

    On the CPU the product is taken as W @ h.T, (vocab, n), then transposed: MKL runs that form
    1.1-2.7x faster than h @ W.T for a 262k vocabulary at 8-32 rows (the results agree to rounding).
    """

    def __init__(self, lm: LocalModel, rows: int) -> None:
        self.head = lm.layout.lm_head
        weight = self.head.weight
        assert isinstance(weight, torch.Tensor)
        self.weight = weight
        bias = getattr(self.head, "bias", None)
        self.bias = bias if isinstance(bias, torch.Tensor) else None
        cap = getattr(lm.model.config, "final_logit_softcapping", None)
        self.cap = float(cap) if cap else None
        vocab, dtype, device = self.weight.shape[0], self.weight.dtype, self.weight.device
        self.buffer = torch.empty(rows, vocab, dtype=dtype, device=device)
        self.transposed = (
            torch.empty(rows * vocab, dtype=dtype, device=device) if device.type == "cpu" else None
        )

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden`` (n, seq, d) after the final norm -> (n, vocab) logits of the last position."""
        h = hidden[:, -1].contiguous()
        if self.head._forward_hooks or self.head._forward_pre_hooks:
            logits: torch.Tensor = self.head(h)
            return logits if self.cap is None else torch.tanh(logits / self.cap) * self.cap
        n, vocab = h.shape[0], self.weight.shape[0]
        logits = self.buffer[:n]
        if self.transposed is not None:
            wh = torch.mm(self.weight, h.t(), out=self.transposed[: n * vocab].view(vocab, n))
            logits.copy_(wh.t())
        else:
            torch.matmul(h, self.weight.t(), out=logits)
        if self.bias is not None:
            logits += self.bias
        if self.cap is not None:  # as the model does it: logits / cap, tanh, * cap
            logits.div_(self.cap).tanh_().mul_(self.cap)
        return logits


# --------------------------------------------------------------------------- KV cache
class _Buffer:
    """Keys and values in a preallocated (batch, heads, capacity, dim) buffer, appended in place:
    ``DynamicLayer`` concatenates the whole cache at every step, which costs time quadratic in length."""

    capacity: int
    filled: int
    _k: torch.Tensor
    _v: torch.Tensor

    def _allocate(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        b, h, _, dk = key_states.shape
        self._k = key_states.new_empty((b, h, self.capacity, dk))
        self._v = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.filled = 0

    def _append(self, key_states: torch.Tensor, value_states: torch.Tensor, keep: int | None) -> None:
        """Write new states after the filled part; when they do not fit, first move the last ``keep``
        states to the front (sliding layers need no more), then grow the buffer if still needed."""
        q = key_states.shape[-2]
        if self.filled + q > self.capacity:
            if keep is not None and keep < self.filled:
                start = self.filled - keep
                self._k[:, :, :keep] = self._k[:, :, start : self.filled].clone()
                self._v[:, :, :keep] = self._v[:, :, start : self.filled].clone()
                self.filled = keep
            if self.filled + q > self.capacity:
                k, v, n = self._k, self._v, self.filled
                self.capacity = max(2 * self.capacity, n + q)
                self._allocate(key_states, value_states)
                self._k[:, :, :n] = k[:, :, :n]
                self._v[:, :, :n] = v[:, :, :n]
                self.filled = n
        end = self.filled + q
        self._k[:, :, self.filled : end] = key_states
        self._v[:, :, self.filled : end] = value_states
        self.filled = end

    def _select(self, indices: torch.Tensor) -> None:
        self._k, self._v = self._k[indices], self._v[indices]


class _BufferedLayer(_Buffer, DynamicLayer):
    """A full-attention ``DynamicLayer`` on a preallocated buffer."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity, self.filled = capacity, 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._allocate(key_states, value_states)
        self._append(key_states, value_states, None)
        self.keys, self.values = self._k[:, :, : self.filled], self._v[:, :, : self.filled]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.filled if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._select(indices)
            self.keys, self.values = self._k[:, :, : self.filled], self._v[:, :, : self.filled]


class _BufferedSlidingLayer(_Buffer, DynamicSlidingWindowLayer):
    """A ``DynamicSlidingWindowLayer`` on a preallocated buffer: returns what it would return (the
    last ``sliding_window - 1`` states before this update, and the new ones)."""

    def __init__(self, sliding_window: int, capacity: int) -> None:
        super().__init__(sliding_window=sliding_window)
        self.capacity, self.filled = capacity, 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._allocate(key_states, value_states)
        window = self.sliding_window - 1
        visible = min(self.cumulative_length, window) + key_states.shape[-2]
        self.cumulative_length += key_states.shape[-2]
        self._append(key_states, value_states, window)
        start = self.filled - visible
        self.keys, self.values = self._k[:, :, start : self.filled], self._v[:, :, start : self.filled]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._select(indices)
            self.keys, self.values = self._k[:, :, : self.filled], self._v[:, :, : self.filled]


def _make_cache(config: object, capacity: int) -> DynamicCache:
    """A ``DynamicCache`` for ``config`` whose attention layers append in place."""
    cache = DynamicCache(config=config)  # type: ignore[arg-type]
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicLayer:
            cache.layers[i] = _BufferedLayer(capacity)
        elif type(layer) is DynamicSlidingWindowLayer:
            cache.layers[i] = _BufferedSlidingLayer(
                layer.sliding_window, min(capacity, layer.sliding_window + 255)
            )
    return cache


# --------------------------------------------------------------------------- decoding
def _first_stop(text: str, stop: list[str]) -> int:
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    return min(hits) if hits else -1


def _decode_batch(
    lm: LocalModel,
    encoded: list[list[int]],
    rows: list[int],
    u: torch.Tensor | None,
    s: _Sampling,
    max_new_tokens: int,
    eos: set[int],
    stop: list[str],
    pad_id: int,
    results: list[Generation | None],
    bar: tqdm,
) -> None:
    """Generate for prompts ``rows`` (indices into ``encoded``) and store their results."""
    model, body, tokenizer, device = lm.model, lm.layout.body, lm.tokenizer, lm.device
    n = len(rows)
    width = max(len(encoded[i]) for i in rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, i in enumerate(rows):
        e = encoded[i]
        ids[r, width - len(e) :] = torch.tensor(e, dtype=torch.long)
        mask[r, width - len(e) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp_(min=0)
    next_pos = mask.sum(-1, keepdim=True).to(device)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    u = u.to(device) if u is not None else None
    cache = _make_cache(model.config, width + max_new_tokens)
    head = _LastLogits(lm, n)
    scratch = torch.empty_like(head.buffer, dtype=torch.float32) if u is not None else None
    lm.last_positions = torch.full((n,), width - 1, dtype=torch.long)
    lm.batch_items = list(rows)
    cache_kw: dict[str, object] = {lm.layout.cache_argument: cache}
    hidden = body(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **cache_kw)
    lm.last_positions = None
    logits = head(hidden.last_hidden_state)
    active = list(range(n))  # rows of this batch still generating, in cache order
    generated: list[list[int]] = [[] for _ in range(n)]
    reasons: list[FinishReason] = ["length"] * n
    cuts = [-1] * n
    ones = torch.ones((n, 1), dtype=mask.dtype, device=device)
    for step in range(max_new_tokens):
        if u is None:
            tokens = logits.argmax(-1)
        else:
            us = u[active, step] if len(active) < n else u[:, step]
            tokens = _choose(logits, us, s, scratch=scratch, owned=True)
        done: list[int] = []
        for j, (r, t) in enumerate(zip(active, tokens.tolist(), strict=True)):
            generated[r].append(t)
            if t in eos:
                reasons[r] = "eos"
                done.append(j)
        if stop:
            live = [(j, r) for j, r in enumerate(active) if reasons[r] != "eos"]
            texts = tokenizer.batch_decode([generated[r] for _, r in live], skip_special_tokens=True)
            for (j, r), text in zip(live, texts, strict=True):
                cut = _first_stop(text, stop)
                if cut >= 0:
                    reasons[r], cuts[r] = "stop", cut
                    done.append(j)
        if step == max_new_tokens - 1:
            bar.update(len(active))
            break
        if done:
            bar.update(len(done))
            finished = set(done)
            keep = [j for j in range(len(active)) if j not in finished]
            if not keep:
                break
            sel = torch.tensor(keep, device=device)
            cache.batch_select_indices(sel)
            tokens, mask, next_pos = tokens[sel], mask[sel], next_pos[sel]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, ones[: len(active)]], dim=1)
        lm.batch_items = [rows[r] for r in active]
        hidden = body(
            input_ids=tokens.unsqueeze(-1),
            attention_mask=mask,
            position_ids=next_pos,
            use_cache=True,
            **cache_kw,
        )
        next_pos = next_pos + 1
        logits = head(hidden.last_hidden_state)
    texts = tokenizer.batch_decode(
        [g[:-1] if reasons[r] == "eos" else g for r, g in enumerate(generated)], skip_special_tokens=True
    )
    for r, i in enumerate(rows):
        text = texts[r] if cuts[r] < 0 else texts[r][: cuts[r]]
        results[i] = Generation(text, generated[r], reasons[r], len(encoded[i]))


@overload
def generate(
    lm: LocalModel,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
    stop: Sequence[str] | str | None = None,
    chat: bool | None = None,
    system: str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    return_details: Literal[False] = False,
) -> list[str]: ...


@overload
def generate(
    lm: LocalModel,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
    stop: Sequence[str] | str | None = None,
    chat: bool | None = None,
    system: str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    return_details: Literal[True],
) -> list[Generation]: ...


def generate(
    lm: LocalModel,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
    stop: Sequence[str] | str | None = None,
    chat: bool | None = None,
    system: str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    return_details: bool = False,
) -> list[str] | list[Generation]:
    """Continue each prompt; returns the generated texts (prompt excluded) in input order.

    ``temperature`` 0 is greedy; otherwise tokens are sampled from softmax(logits / temperature)
    restricted to the ``top_k`` most likely (0 = all) and then to the nucleus of mass ``top_p``.
    The same ``seed`` gives the same text for a prompt whatever the batch size or the other prompts.
    Generation ends at an EOS token, at the first ``stop`` string (the text is cut before it) or
    after ``max_new_tokens``. ``chat`` (default: ``lm.instruct``) wraps each prompt as the user
    message of the chat template, after an optional ``system`` message. Interventions active on
    ``lm`` apply at every step (a steer with explicit ``positions`` indexes the left-padded batch;
    use ``"all"`` or ``"last"`` for batch-independent results). ``return_details`` gives
    ``Generation`` records instead of strings.
    """
    items = _check_prompts(prompts)
    max_new_tokens = _check_int(max_new_tokens, "max_new_tokens", 1)
    sampling = _check_sampling(temperature, top_p, top_k)
    seed = _check_int(seed, "seed", 0)
    stops = _check_stop(stop)
    batch_size = _check_int(batch_size, "batch_size", 1)
    if chat is not None and not isinstance(chat, bool):
        raise TypeError(f"chat={chat!r}: must be True, False or None (None = use the template if instruct)")
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a string or None, got {type(system).__name__}")
    tokenizer = lm.tokenizer
    use_chat = lm.instruct if chat is None else chat
    if use_chat and tokenizer.chat_template is None:
        raise ValueError(f"chat=True but the tokenizer of {lm.name} has no chat template")
    if system is not None and not use_chat:
        raise ValueError("system needs the chat template; pass chat=True (or leave system=None)")

    encoded = _encode_prompts(tokenizer, items, use_chat, system)
    for i, e in enumerate(encoded):
        if not e:
            raise ValueError(f"prompts[{i}] tokenizes to no tokens")
    limit = max_positions(lm)
    longest = max(len(e) for e in encoded)
    if limit is not None and longest + max_new_tokens > limit:
        raise ValueError(
            f"max_new_tokens={max_new_tokens}: the longest prompt has {longest} tokens and "
            f"{lm.name} reads at most {limit} positions"
        )
    eos = _eos_ids(lm)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    udtype = torch.float32 if lm.device.type == "mps" else torch.float64
    order = sorted(range(len(items)), key=lambda i: -len(encoded[i]))
    results: list[Generation | None] = [None] * len(items)
    show = progress if progress is not None else len(items) * max_new_tokens >= PROGRESS_MIN_TOKENS
    saved_last = lm.last_positions
    try:
        with (
            torch.inference_mode(),
            tqdm(total=len(items), desc="generating", unit="prompt", disable=not show, leave=False) as bar,
        ):
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                u = None if sampling.greedy else _uniforms(rows, seed, max_new_tokens, udtype)
                _decode_batch(
                    lm, encoded, rows, u, sampling, max_new_tokens, eos, stops, pad_id, results, bar
                )
    finally:
        lm.last_positions = saved_last
        lm.batch_items = None
    done = [r for r in results if r is not None]
    assert len(done) == len(items)
    return done if return_details else [r.text for r in done]
