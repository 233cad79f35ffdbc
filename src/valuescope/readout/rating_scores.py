"""The forward passes of a rating: summed log-probabilities of each option's tokens.

Only the positions that are scored go through the LM head (with the model's logit softcap). A
batch that shares a prefix runs it once into a KV cache handed out expanded to each batch; a
``Tape`` records every block's unedited output (and each prefix cache) on a call with no edit
active and replays the blocks before the first one an edit touches."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from valuescope.readout.capture import record_blocks, replay_blocks
from valuescope.readout.head import Head
from valuescope.readout.rating_batches import RatingBatch, rating_batches
from valuescope.readout.rating_plan import SHARED, RatingPlan, RatingSequence

if TYPE_CHECKING:
    from valuescope.model import LocalModel

PROGRESS_MIN_ITEMS = 256


def prefix_cache_supported(lm: LocalModel) -> bool:
    """Whether every layer of the model's KV cache is a plain key/value layer (not linear attention)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(isinstance(layer, DynamicLayer) for layer in DynamicCache(config=lm.model.config).layers)


class Tape:
    """Every block's unedited output in each forward pass of one rating plan (in pass order), and the
    KV cache of each prefix pass: recorded on a call with no edit active, replayed under an edit for
    the blocks before the first one it touches (``readout.capture.replay_blocks``)."""

    def __init__(self, use_prefix: bool) -> None:
        self.use_prefix = use_prefix
        self.passes: list[list[object]] = []
        self.caches: dict[int, Any] = {}
        self.recording = True
        self.skip = 0
        self._next = 0

    def start(self, recording: bool, skip: int = 0) -> None:
        self.recording, self.skip, self._next = recording, skip, 0

    @contextlib.contextmanager
    def forward(self, lm: LocalModel) -> Iterator[int]:
        """Around one forward pass: records its blocks, or replays the first ``skip`` of them; yields
        the pass's index."""
        i = self._next
        self._next += 1
        if self.recording:
            self.passes.append([])
            with record_blocks(lm.layout, self.passes[i]):
                yield i
        else:
            with replay_blocks(lm.layout, self.passes[i], self.skip):
                yield i

    def fill_prefix(self, i: int, cache: Any) -> None:
        """Pass ``i`` was a prefix pass: keep its cache (recording), or give the replayed blocks, which
        wrote nothing into ``cache``, their unedited keys and values (replaying)."""
        if self.recording:
            self.caches[i] = cache
            return
        skip = min(self.skip, len(self.passes[i]))
        for j in range(skip):
            cache.layers[j] = copy.copy(self.caches[i].layers[j])


class _PrefixCache:
    """The KV cache of the last prefix run (batch 1), handed out expanded to each batch that shares it."""

    def __init__(self, lm: LocalModel, tape: Tape | None = None) -> None:
        self.lm = lm
        self.tape = tape
        self.ids: list[int] | None = None
        self.base: Any = None

    def expanded(self, ids: list[int], batch: int) -> object:
        """A cache holding ``ids``' keys and values for ``batch`` rows (views of one copy, no copying)."""
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        if ids != self.ids:
            lm = self.lm
            base = DynamicCache(config=lm.model.config)
            kwargs: dict[str, object] = {lm.layout.cache_argument: base}
            with self.tape.forward(lm) if self.tape else contextlib.nullcontext(-1) as i:
                lm.layout.body(input_ids=torch.tensor([ids], device=lm.device), use_cache=True, **kwargs)
            if self.tape:
                self.tape.fill_prefix(i, base)
            self.ids, self.base = list(ids), base
        cache = copy.copy(self.base)
        # layers copied shallowly: forward replaces (never writes into) their key and value tensors
        cache.layers = [copy.copy(layer) for layer in self.base.layers]
        for layer in cache.layers:
            assert isinstance(layer, DynamicLayer) and layer.keys is not None and layer.values is not None
            layer.keys = layer.keys.expand(batch, -1, -1, -1)
            layer.values = layer.values.expand(batch, -1, -1, -1)
        return cache


def _forward(
    lm: LocalModel, seqs: list[RatingSequence], run: RatingBatch, pad_id: int, prefixes: _PrefixCache
) -> torch.Tensor:
    """Hidden states (batch, width, d) of the run's tokens after its shared prefix."""
    device = lm.device
    p = run.prefix
    rows = [seqs[i].ids[p:] for i in run.index]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), p + width), dtype=torch.long)
    mask[:, :p] = 1
    for row, r in enumerate(rows):
        ids[row, : len(r)] = torch.tensor(r)
        mask[row, p : p + len(r)] = 1
    kwargs: dict[str, object] = {"use_cache": False}
    if p:
        cache = prefixes.expanded(seqs[run.index[0]].ids[:p], len(rows))
        positions = (p + torch.arange(width)).expand(len(rows), width)
        kwargs = {lm.layout.cache_argument: cache, "position_ids": positions.to(device), "use_cache": True}
    lm.last_positions = torch.tensor([seqs[i].decision - p for i in run.index], dtype=torch.long)
    try:
        with prefixes.tape.forward(lm) if prefixes.tape else contextlib.nullcontext():
            out = lm.layout.body(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
    finally:
        lm.last_positions = None
    hidden: torch.Tensor = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    return hidden


def score_plan(
    lm: LocalModel,
    plan: RatingPlan,
    batch_size: int,
    progress: bool | None,
    prefix_cache: bool,
    tape: Tape | None = None,
    mass: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probabilities (n_items, n_options) of each option and (n_items,) of the shared tokens.

    Without ``mass`` the decision position (where every option's first distinguishing token is scored
    in the same context) gives raw logits, with no vocabulary-wide normaliser: it is the same for every
    option there, so the options' renormalised probabilities do not change; the shared tokens (which
    only the mass needs) are not scored and their sum is NaN."""
    tok = lm.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    seqs = plan.sequences
    runs = rating_batches(seqs, batch_size, prefix_cache)
    prefixes = _PrefixCache(lm, tape)
    k = plan.n_options
    option_lp = torch.zeros(plan.n_items * k, dtype=torch.float64)
    shared_lp = torch.zeros(plan.n_items, dtype=torch.float64)
    head = Head(lm)
    show = progress if progress is not None else plan.n_items >= PROGRESS_MIN_ITEMS
    with torch.inference_mode():
        for run in tqdm(runs, desc="rating", unit="batch", disable=not show, leave=False):
            rows: list[int] = []
            positions: list[int] = []
            where: dict[tuple[int, int], int] = {}
            q_at: list[int] = []
            q_target: list[int] = []
            q_slot: list[int] = []
            raw: list[bool] = []
            for row, i in enumerate(run.index):
                for pos, target, item, slot in seqs[i].queries:
                    if not mass and slot == SHARED:
                        continue
                    key = (row, pos - run.prefix)
                    if key not in where:
                        where[key] = len(rows)
                        rows.append(row)
                        positions.append(pos - run.prefix)
                    q_at.append(where[key])
                    q_target.append(target)
                    q_slot.append(item * k + slot if slot != SHARED else -1 - item)
                    raw.append(not mass and pos == seqs[i].decision)
            hidden = _forward(lm, seqs, run, pad_id, prefixes)
            dev = hidden.device
            picked = hidden[torch.tensor(rows, device=dev), torch.tensor(positions, device=dev)]
            lp = _scores(head, picked, torch.tensor(q_at), torch.tensor(q_target), torch.tensor(raw))
            slots = torch.tensor(q_slot, dtype=torch.long)
            is_option = slots >= 0
            option_lp.index_add_(0, slots[is_option], lp[is_option])
            shared_lp.index_add_(0, -1 - slots[~is_option], lp[~is_option])
    if not mass:
        shared_lp.fill_(float("nan"))
    return option_lp.view(plan.n_items, k), shared_lp


def _scores(
    head: Head, picked: torch.Tensor, at: torch.Tensor, targets: torch.Tensor, raw: torch.Tensor
) -> torch.Tensor:
    """Float64 log-probability of ``targets[j]`` after row ``at[j]`` of ``picked``, or its raw logit where
    ``raw[j]`` (the normaliser of those rows is left out, and not computed for rows only they read)."""
    if not bool(raw.any()):
        return head.log_probs_at(picked, at, targets).double().cpu()
    out = torch.empty(len(at), dtype=torch.float64)
    out[raw] = head.logits_at(picked[at[raw].to(picked.device)], targets[raw]).double().cpu()
    normal = ~raw
    if bool(normal.any()):
        needed, local = torch.unique(at[normal], return_inverse=True)
        sub = picked[needed.to(picked.device)]
        out[normal] = head.log_probs_at(sub, local, targets[normal]).double().cpu()
    return out
