"""Tokenize items, mark the span to pool, and group them into length-sorted, right-padded batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from valuescope.model import Item


@dataclass
class Encoded:
    ids: list[int]
    span_start: int
    """First token position belonging to the pooled text."""
    span_mask: list[bool]
    """Which positions are pooled by ``mean`` (text tokens, no special tokens)."""


@dataclass
class Batch:
    index: list[int]
    """Positions of these items in the caller's list."""
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: torch.Tensor
    span_mask: torch.Tensor
    """(batch, seq) bool: the tokens that ``mean`` pools."""
    last: torch.Tensor
    """(batch,) position of the token that ``last`` pools: the last token of the sequence."""


def validate_items(items: object, argument: str = "texts") -> list[Item]:
    """Check a list of texts or (context, text) pairs; raise a one-line error naming the bad row."""
    if isinstance(items, str | bytes):
        raise TypeError(f"{argument} must be a list of strings, not a single string; wrap it: [{argument}]")
    if not isinstance(items, Sequence):
        raise TypeError(f"{argument} must be a list of strings, got {type(items).__name__}")
    if len(items) == 0:
        raise ValueError(f"{argument} is empty; pass at least one text")
    out: list[Item] = []
    for row, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise ValueError(f"{argument}[{row}] is an empty string; remove it or give it text")
            out.append(item)
        elif isinstance(item, tuple | list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            if not item[1]:
                raise ValueError(f"{argument}[{row}] has an empty text after its context")
            out.append((item[0], item[1]))
        else:
            raise TypeError(
                f"{argument}[{row}] is {type(item).__name__} ({item!r:.60}); "
                "each row must be a string or a (context, text) pair of strings"
            )
    return out


def encode(tokenizer: PreTrainedTokenizerBase, item: Item) -> Encoded:
    """Tokenize exactly as ``tokenizer(text)`` does (default special tokens) and locate the span."""
    context, text = ("", item) if isinstance(item, str) else item
    full = context + text
    enc = tokenizer(full, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids: list[int] = enc["input_ids"]
    special: list[int] = enc["special_tokens_mask"]
    offsets: list[tuple[int, int]] = enc["offset_mapping"]
    boundary = len(context)
    in_span = [not sp and end > boundary for (_, end), sp in zip(offsets, special, strict=True)]
    if not any(in_span):
        raise ValueError(f"text {text!r:.60} produced no tokens of its own after its context")
    span_start = in_span.index(True)
    return Encoded(ids=ids, span_start=span_start, span_mask=in_span)


def make_batches(
    encoded: Sequence[Encoded], batch_size: int, pad_id: int, max_tokens: int | None = None
) -> Iterator[Batch]:
    """Yield right-padded batches of items sorted by length (longest first)."""
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].ids))
    start = 0
    while start < len(order):
        longest = len(encoded[order[start]].ids)
        size = batch_size
        if max_tokens is not None:
            size = max(1, min(batch_size, max_tokens // max(longest, 1)))
        chunk = order[start : start + size]
        start += size
        width = max(len(encoded[i].ids) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        span = torch.zeros((len(chunk), width), dtype=torch.bool)
        last = torch.zeros(len(chunk), dtype=torch.long)
        for row, i in enumerate(chunk):
            e = encoded[i]
            n = len(e.ids)
            ids[row, :n] = torch.tensor(e.ids)
            mask[row, :n] = 1
            span[row, :n] = torch.tensor(e.span_mask)
            last[row] = n - 1
        yield Batch(
            index=chunk, input_ids=ids, attention_mask=mask, lengths=mask.sum(1), span_mask=span, last=last
        )
