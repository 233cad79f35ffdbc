"""Residual-stream and MLP-neuron readouts over many texts, pooled per text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from valuescope.model import Item, Site, TokenReadout
from valuescope.models.layout import Layout
from valuescope.readout.batching import Batch, encode, make_batches
from valuescope.readout.capture import POOLS, run_capture

DEFAULT_BATCH_SIZE = 32
PROGRESS_MIN_ITEMS = 256


def check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise ValueError(f"pool={pool!r} is not one of {', '.join(POOLS)}")


def read_sites(
    layout: Layout,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[Item],
    sites: Sequence[Site],
    pool: str,
    device: torch.device,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
    on_batch_start: Callable[[Batch], None] | None = None,
    desc: str = "reading",
) -> torch.Tensor | TokenReadout:
    """Pooled values at ``sites`` for every item: (n, len(sites), width) float32, in input order."""
    check_pool(pool)
    encoded = [encode(tokenizer, item) for item in items]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = list(make_batches(encoded, batch_size, pad_id))
    show = progress if progress is not None else len(items) >= PROGRESS_MIN_ITEMS
    results: list[torch.Tensor | None] = [None] * len(items)
    masks: list[torch.Tensor | None] = [None] * len(items)
    with torch.inference_mode():
        for batch in tqdm(batches, desc=desc, unit="batch", disable=not show, leave=False):
            captured = run_capture(layout, batch, sites, pool, device, on_batch_start)
            stacked = torch.stack([captured[s] for s in sites], dim=1)
            for row, i in enumerate(batch.index):
                if pool == "all":
                    n = int(batch.lengths[row])
                    results[i] = stacked[row, :, :n]
                    masks[i] = batch.span_mask[row, :n]
                else:
                    results[i] = stacked[row]
    if pool != "all":
        return torch.stack([r for r in results if r is not None])
    width = max(int(r.shape[1]) for r in results if r is not None)
    first = results[0]
    assert first is not None
    values = torch.zeros(len(items), len(sites), width, first.shape[-1])
    mask = torch.zeros(len(items), width, dtype=torch.bool)
    for i, (r, m) in enumerate(zip(results, masks, strict=True)):
        assert r is not None and m is not None
        values[i, :, : r.shape[1]] = r
        mask[i, : m.shape[0]] = m
    return TokenReadout(values=values, mask=mask)
