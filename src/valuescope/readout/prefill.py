"""The prefill of one decoding batch, without computing anything twice.

Rows with the same prompt under the same edits (samples of one prompt) are prefilled once and copied.
Rows with the same prompt under different edits (one prompt under each of many steers, ``EditEach``)
share the blocks below the first one an edit touches (``readout.capture.replayable_blocks``): those run
once per distinct prompt, unedited, and the edited prefill replays their outputs and takes their keys
and values."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from transformers.cache_utils import DynamicLayer

from valuescope.readout.capture import replay_blocks, replayable_blocks
from valuescope.readout.kv_cache import make_cache

if TYPE_CHECKING:
    from transformers import DynamicCache

    from valuescope.model import LocalModel


def first_rows(keys: Sequence[Hashable]) -> tuple[list[int], list[int] | None]:
    """The rows to compute (the first of each distinct key) and, where some rows repeat another, which
    computed row each row copies (None: every key is distinct)."""
    slot: dict[Hashable, int] = {}
    first: list[int] = []
    copies: list[int] = []
    for r, key in enumerate(keys):
        if key not in slot:
            slot[key] = len(first)
            first.append(r)
        copies.append(slot[key])
    return first, (None if len(first) == len(keys) else copies)


class _LowerBlocksDone(Exception):
    """Raised after the last shared block: the unedited pass need not go further."""


def _select_rows(output: object, index: torch.Tensor) -> object | None:
    """A block's output with the batch rows ``index`` (None: an output this cannot index)."""
    if isinstance(output, torch.Tensor):
        return output[index]
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return (output[0][index], *output[1:])
    return None


def _lower_blocks(
    lm: LocalModel, inputs: dict[str, torch.Tensor], k: int, capacity: int
) -> tuple[list[object], DynamicCache]:
    """The outputs of blocks ``0..k-1`` on ``inputs``, and the cache their attention filled."""
    blocks = lm.layout.blocks
    outputs: list[object] = []
    cache = make_cache(lm.model.config, capacity)

    def keep(_m: object, _a: object, out: object) -> None:
        outputs.append(out)

    def stop(_m: object, _a: object, _out: object) -> None:
        raise _LowerBlocksDone

    # first among the hooks (before any edit of block k-1's output), keep before stop
    handles = [blocks[k - 1].register_forward_hook(stop, prepend=True)]
    handles += [block.register_forward_hook(keep, prepend=True) for block in blocks[:k]]
    try:
        lm.layout.body(**inputs, use_cache=True, **{lm.layout.cache_argument: cache})
    except _LowerBlocksDone:
        pass
    finally:
        for h in handles:
            h.remove()
    return outputs, cache


def prefill(
    lm: LocalModel,
    inputs: dict[str, torch.Tensor],
    items: list[int],
    keys: Sequence[Hashable],
    prompts: Sequence[Hashable],
    cache: DynamicCache,
    capacity: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Prefill a left-padded batch (``inputs``: ``input_ids``, ``attention_mask``, ``position_ids``) of
    prompts ``items`` into ``cache``, which then holds every row. ``keys[r]`` is equal for rows that are
    the same prompt under the same edits, ``prompts[r]`` for rows that are the same prompt.

    Returns the final hidden states of the rows it ran and, where rows repeat others, the index (one per
    batch row) into those rows."""
    first, copies = first_rows(keys)
    run = inputs
    if copies is not None:
        at = torch.tensor(first, device=inputs["input_ids"].device)
        run = {name: v[at] for name, v in inputs.items()}
    try:
        hidden = _edited_prefill(
            lm, run, [prompts[r] for r in first], [items[r] for r in first], cache, capacity
        )
    finally:
        lm.last_positions = None
    if copies is None:
        return hidden, None
    spread = torch.tensor(copies, device=hidden.device)
    cache.batch_select_indices(spread)
    return hidden, spread


def _edited_prefill(
    lm: LocalModel,
    run: dict[str, torch.Tensor],
    prompts: list[Hashable],
    items: list[int],
    cache: DynamicCache,
    capacity: int,
) -> torch.Tensor:
    """The prefill of rows that differ in prompt or edit, the shared blocks run once per prompt."""
    body = lm.layout.body
    kw: dict[str, Any] = {lm.layout.cache_argument: cache}
    width = run["input_ids"].shape[1]

    def rows_are(chosen: list[int]) -> None:  # what the edits' hooks read of the batch
        lm.batch_items = chosen
        lm.last_positions = torch.full((len(chosen),), width - 1, dtype=torch.long)

    rows_are(items)
    base, shared = first_rows(prompts)
    k = replayable_blocks(lm.layout) if shared is not None else 0
    if k == 0 or not all(isinstance(layer, DynamicLayer) for layer in cache.layers[:k]):
        return _last_hidden(body(**run, use_cache=True, **kw))
    at = torch.tensor(base, device=run["input_ids"].device)
    rows_are([items[r] for r in base])
    outputs, lower = _lower_blocks(lm, {name: v[at] for name, v in run.items()}, k, capacity)
    rows_are(items)
    spread = torch.tensor(shared, device=at.device)
    replayed = [_select_rows(o, spread) for o in outputs]
    if len(outputs) != k or any(o is None for o in replayed):
        return _last_hidden(body(**run, use_cache=True, **kw))  # an output this cannot index: run it all
    with replay_blocks(lm.layout, replayed, k):
        out = body(**run, use_cache=True, **kw)
    for j in range(k):
        layer = lower.layers[j]
        assert isinstance(layer, DynamicLayer)  # make_cache builds the same layers as ``cache``'s
        layer.batch_select_indices(spread)
        cache.layers[j] = layer
    return _last_hidden(out)


def _last_hidden(out: Any) -> torch.Tensor:
    hidden: torch.Tensor = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    return hidden
