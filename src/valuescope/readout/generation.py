"""Batched greedy or sampled text generation with a KV cache, reproducible per prompt.

Prompts are checked, tokenized (through the chat template when asked), sorted by length (equal prompts
side by side, so that a batch prefills them once) and decoded in batches (``readout.decoding``); each
prompt draws its tokens from its own random stream (``readout.sampling``), so the same ``seed`` gives
the same text for a prompt whatever the batch size or the other prompts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from valuescope.readout.arguments import check_int, check_prompts, check_sampling, check_stop
from valuescope.readout.decoding import Generation, decode_batch
from valuescope.readout.sampling import prompt_uniforms

if TYPE_CHECKING:
    from valuescope.model import LocalModel


PROGRESS_MIN_TOKENS = 4096
"""``progress=None`` shows a bar when prompts x max_new_tokens reaches this."""


BATCH_SIZE = {"cpu": 128}
"""Prompts decoded together by default, by device type (others: 32). Each decoding step reads every weight
of the model once however many rows it carries, so on a 2-core CPU 96 rows take 25-28% less time per
prompt than 32 (Gemma-3-270M and SmolLM2-135M, sampled, 32 tokens; BENCHMARKS.md), with the same texts.
An accelerator keeps 32: a large model's KV cache for 128 rows may not fit beside its weights."""


def default_batch_size(lm: LocalModel) -> int:
    """``generate``'s batch size when the caller gives none: ``BATCH_SIZE`` for ``lm``'s device type."""
    return BATCH_SIZE.get(lm.device.type, 32)


STEP_TOKENS = 128
"""What one decoding step costs beyond its rows, in prompt tokens read by the prefill: measured on
Gemma-3-270M on the 2-core CPU (a step of 16 rows and one of 128 differ by far less than eight times; a
step's fixed part, reading every weight, costs about as much as a prefill of 130 tokens)."""


def decoding_batches(
    lengths: Sequence[int], max_rows: int, steps: int, starts: Sequence[bool] | None = None
) -> list[tuple[int, int]]:
    """Split prompts sorted longest first (their token ``lengths``) into consecutive batches of at most
    ``max_rows``, minimising the tokens the batches' prefills read (every row padded to the batch's first,
    longest prompt) plus ``STEP_TOKENS`` for each of a batch's ``steps``: prompts of very different
    lengths get their own batches where the padding would cost more than the extra steps. ``starts[k]``
    says whether prompt k differs from the one before it (None: every one does): a batch prefills each
    run of equal prompts it holds once."""
    n = len(lengths)
    step_cost = float(STEP_TOKENS * steps)
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    longest = np.asarray(lengths, dtype=float)
    new = np.ones(n, dtype=bool) if starts is None else np.asarray(starts, dtype=bool)
    runs = np.concatenate([[0], np.cumsum(new)])  # runs begun before each prompt
    for i in range(1, n + 1):
        j = np.arange(max(0, i - max_rows), i)
        rows = runs[i] - runs[j] + ~new[j]  # a run begun before j counts once
        cost = best[j] + longest[j] * rows + step_cost
        k = int(np.argmin(cost))
        best[i], cut[i] = cost[k], j[k]
    bounds, i = [], n
    while i > 0:
        bounds.append((int(cut[i]), i))
        i = int(cut[i])
    return bounds[::-1]


def prefill_groups(lm: LocalModel, encoded: list[list[int]]) -> list[int]:
    """A number per prompt, equal for prompts with the same tokens under the same edits (every active
    intervention's ``prompt_key``): such prompts (samples of one prompt) share one prefill in a batch."""
    active = list(lm.active_interventions)
    seen: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    return [
        seen.setdefault((tuple(ids), tuple(iv.prompt_key(i) for iv in active)), len(seen))
        for i, ids in enumerate(encoded)
    ]


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
    batch_size: int | None = None,
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
    batch_size: int | None = None,
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
    batch_size: int | None = None,
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
    use ``"all"`` or ``"last"`` for batch-independent results). At most ``batch_size`` prompts decode
    together (default ``default_batch_size``), in the batches ``decoding_batches`` picks. ``return_details``
    gives ``Generation`` records instead of strings.
    """
    items = check_prompts(prompts)
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", 1)
    sampling = check_sampling(temperature, top_p, top_k)
    seed = check_int(seed, "seed", 0)
    stops = check_stop(stop)
    batch_size = check_int(batch_size if batch_size is not None else default_batch_size(lm), "batch_size", 1)
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
    groups = prefill_groups(lm, encoded)
    order = sorted(range(len(items)), key=lambda i: (-len(encoded[i]), groups[i]))
    results: list[Generation | None] = [None] * len(items)
    show = progress if progress is not None else len(items) * max_new_tokens >= PROGRESS_MIN_TOKENS
    saved_last = lm.last_positions
    try:
        with (
            torch.inference_mode(),
            tqdm(total=len(items), desc="generating", unit="prompt", disable=not show, leave=False) as bar,
        ):
            lengths = [len(encoded[i]) for i in order]
            starts = [k == 0 or groups[order[k]] != groups[order[k - 1]] for k in range(len(order))]
            for first, end in decoding_batches(lengths, batch_size, max_new_tokens, starts):
                rows = order[first:end]
                u = None if sampling.greedy else prompt_uniforms(rows, seed, max_new_tokens, udtype)
                decode_batch(
                    lm, encoded, rows, u, sampling, max_new_tokens, eos, stops, pad_id, results, bar, groups
                )
    finally:
        lm.last_positions = saved_last
        lm.batch_items = None
    done = [r for r in results if r is not None]
    assert len(done) == len(items)
    return done if return_details else [r.text for r in done]
