"""Batches of a rating plan's sequences: by length, or grouped by a shared leading prefix.

Sequences that share enough leading tokens (an instruction, a system prompt) form a group whose
prefix runs once through a KV cache; ``prefix_groups`` chooses the groups by a token cost model."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from valuescope.readout.rating_plan import RatingSequence

MIN_PREFIX = 8
"""Shortest shared prefix (tokens) worth running once through a KV cache for a batch."""


PREFIX_TOKEN_COST = 2.0
"""Cost of a prefix token (run alone, batch 1) relative to a token inside a batch, when deciding
whether prompts share one shorter prefix or split into groups with longer ones."""


@dataclass
class RatingBatch:
    """One batch: sequence indices, and how many leading tokens they share (run once, 0 = none)."""

    index: list[int]
    prefix: int


def _common(a: list[int], b: list[int], limit: int) -> int:
    j = 0
    while j < limit and j < len(a) and j < len(b) and a[j] == b[j]:
        j += 1
    return j


def _by_length(index: list[int], seqs: list[RatingSequence], batch_size: int) -> list[RatingBatch]:
    order = sorted(index, key=lambda i: -len(seqs[i].ids))
    return [RatingBatch(order[s : s + batch_size], 0) for s in range(0, len(order), batch_size)]


def prefix_groups(lengths: Sequence[int], shared: Sequence[int]) -> list[tuple[int, int, int]]:
    """Split sequences in token order into groups that each run one shared prefix: ``(start, stop,
    prefix)`` ranges, a group of one with prefix 0.

    ``lengths[i]`` is sequence i's token count and ``shared[i]`` the tokens it shares with sequence
    i + 1 (at most what both may share). A range is either one group, whose prefix is the least
    ``shared`` inside it, or split where that least value occurs into ranges sharing more; the
    cheaper is kept, costing every token a batch runs once and every prefix token
    ``PREFIX_TOKEN_COST`` (so "a system prompt, then one instruction per kind" becomes one group per
    instruction, each with the system prompt and its instruction as the prefix)."""
    n = len(lengths)
    if n == 0:
        return []
    if len(shared) != n - 1:
        raise ValueError(f"shared has {len(shared)} entries for {n} sequences; give n - 1")
    # post-order over the ranges, without recursion (prefixes can be long)
    best: dict[tuple[int, int], tuple[float, list[tuple[int, int, int]]]] = {}
    stack: list[tuple[int, int, bool]] = [(0, n, False)]
    while stack:
        lo, hi, expanded = stack.pop()
        if hi - lo == 1:
            best[(lo, hi)] = (float(lengths[lo]), [(lo, hi, 0)])
            continue
        p = min(shared[lo : hi - 1])
        cuts = [lo] + [k + 1 for k in range(lo, hi - 1) if shared[k] == p] + [hi]
        children = list(itertools.pairwise(cuts))
        if not expanded:
            stack.append((lo, hi, True))
            stack.extend((a, b, False) for a, b in children)
            continue
        total = float(sum(lengths[lo:hi]))
        keep = (PREFIX_TOKEN_COST * p + total - p * (hi - lo), [(lo, hi, p)]) if p >= MIN_PREFIX else None
        split_cost = sum(best[c][0] for c in children)
        split = (split_cost, [g for c in children for g in best[c][1]])
        best[(lo, hi)] = keep if keep is not None and keep[0] <= split[0] else split
        for c in children:
            del best[c]
    return best[(0, n)][1]


def rating_batches(seqs: list[RatingSequence], batch_size: int, use_prefix: bool) -> list[RatingBatch]:
    """Batches: by length, or (``use_prefix``) groups of sequences sharing a prefix of at least
    ``MIN_PREFIX`` tokens (``prefix_groups``), each group's prefix run once and its sequences batched
    by length; sequences sharing none go by length."""
    if not use_prefix:
        return _by_length(list(range(len(seqs))), seqs, batch_size)
    order = sorted(range(len(seqs)), key=lambda i: seqs[i].ids)
    # a prefix must end before the first position a sequence is scored at
    limit = [min(q[0] for q in seqs[i].queries) for i in order]
    shared = [
        _common(seqs[a].ids, seqs[b].ids, min(limit[k], limit[k + 1]))
        for k, (a, b) in enumerate(itertools.pairwise(order))
    ]
    runs: list[RatingBatch] = []
    alone: list[int] = []
    for lo, hi, p in prefix_groups([len(seqs[i].ids) for i in order], shared):
        if not p:
            alone.extend(order[lo:hi])
            continue
        runs.extend(RatingBatch(run.index, p) for run in _by_length(order[lo:hi], seqs, batch_size))
    return runs + _by_length(alone, seqs, batch_size)
