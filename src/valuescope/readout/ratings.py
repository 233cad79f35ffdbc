"""Likert and multiple-choice ratings from next-token probabilities over the option tokens.

Each option is scored as a continuation of the prompt (lm-evaluation-harness style): the sum of
the log-probabilities of its tokens, renormalised over the options. Tokens that every option
starts with (Gemma's '▁' before a digit) move into the context; when every option is then one
distinct token, one forward pass per prompt reads them all from one next-token distribution.
Only the positions that are scored go through the LM head.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from valuescope.readout.batching import validate_items
from valuescope.readout.capture import record_blocks, replay_blocks, replayable_blocks

if TYPE_CHECKING:
    from valuescope.model import LocalModel

PROGRESS_MIN_ITEMS = 256
SHARED = -1
"""Slot of a query that scores a shared leading token rather than one option."""


@dataclass
class _Sequence:
    """One token sequence to run and the log-probabilities to read from it."""

    ids: list[int]
    decision: int
    """Position that predicts the first distinguishing option token (``lm.last_positions``)."""
    queries: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(position, target token, item, option slot or ``SHARED``)."""


@dataclass
class _Plan:
    sequences: list[_Sequence]
    n_items: int
    n_options: int


# ----------------------------------------------------------------------------- validation
def _check_prompts(prompts: object) -> list[str]:
    items = validate_items(prompts, "prompts")
    for row, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"prompts[{row}] is a {type(item).__name__}; each prompt must be a string")
    return [str(item) for item in items]


def _check_options(options: object) -> list[str]:
    if isinstance(options, str | bytes):
        raise TypeError("options must be a list of strings, not a single string: e.g. ['1', '2', '3']")
    if not isinstance(options, Sequence):
        raise TypeError(f"options must be a list of strings, got {type(options).__name__}")
    opts = list(options)
    if len(opts) < 2:
        raise ValueError(f"options has {len(opts)} entries; a rating needs at least two")
    for i, o in enumerate(opts):
        if not isinstance(o, str):
            raise TypeError(f"options[{i}] is {type(o).__name__} ({o!r:.40}); options must be strings")
        if not o.strip():
            raise ValueError(f"options[{i}] ({o!r}) is empty or whitespace; give every option visible text")
    for i, o in enumerate(opts):
        if o in opts[:i]:
            raise ValueError(f"options[{i}] ({o!r}) repeats options[{opts.index(o)}]; remove the duplicate")
    return opts


def _option_values(options: list[str], values: Sequence[float] | None) -> np.ndarray:
    if values is None:
        try:
            return np.array([float(o) for o in options], dtype=np.float64)
        except ValueError:
            return np.arange(1, len(options) + 1, dtype=np.float64)
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray | pd.Series):
        raise TypeError("values must be a list of numbers, one per option")
    if len(values) != len(options):
        raise ValueError(f"values has {len(values)} entries for {len(options)} options; give one per option")
    try:
        out = np.array([float(v) for v in list(values)], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"values must be numbers, got {list(values)!r:.80}") from e
    if not np.isfinite(out).all():
        raise ValueError("values contains NaN or infinite entries")
    return out


def _reverse_flags(reverse: bool | Sequence[bool], n: int) -> list[bool]:
    if isinstance(reverse, bool | np.bool_):
        return [bool(reverse)] * n
    if isinstance(reverse, str | bytes) or not isinstance(reverse, Sequence | np.ndarray | pd.Series):
        raise TypeError("reverse must be a bool or a list of bools, one per prompt")
    if len(reverse) != n:
        raise ValueError(f"reverse has {len(reverse)} entries but there are {n} prompts; give one per prompt")
    for row, r in enumerate(list(reverse)):
        if not isinstance(r, bool | np.bool_):
            raise TypeError(f"reverse[{row}] is {type(r).__name__} ({r!r:.40}); use True or False")
    return [bool(r) for r in list(reverse)]


# ----------------------------------------------------------------------------- tokenization
def _contexts(
    lm: LocalModel, prompts: list[str], use_chat: bool, system: str | None
) -> tuple[list[str], bool]:
    """The text each option continues, and whether to let the tokenizer add its special tokens."""
    tok = lm.tokenizer
    if not use_chat:
        return prompts, True
    if tok.chat_template is None:
        raise ValueError(f"the tokenizer of {lm.name} has no chat template; pass chat=False")
    texts = []
    for prompt in prompts:
        messages = [{"role": "user", "content": prompt}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        texts.append(str(rendered))
    bos = tok.bos_token
    # Templates that write the BOS themselves must not get a second one from the tokenizer.
    add_special = not (isinstance(bos, str) and bos and all(t.startswith(bos) for t in texts))
    return texts, add_special


def _tokenize(tok: PreTrainedTokenizerBase, texts: list[str], add_special: bool) -> list[list[int]]:
    """Token ids of each text, with a doubled leading BOS collapsed to one."""
    ids: list[list[int]] = tok(texts, add_special_tokens=add_special)["input_ids"]
    bos = tok.bos_token_id
    if bos is not None:
        ids = [x[1:] if len(x) > 1 and x[0] == bos and x[1] == bos else x for x in ids]
    return ids


def _check_lengths(lm: LocalModel, plan: _Plan) -> None:
    """A prompt (with its longest option) that the model cannot read is an error naming it."""
    from valuescope.readout.generation import max_positions

    limit = max_positions(lm)
    if limit is None:
        return
    for seq in plan.sequences:
        if len(seq.ids) > limit:
            item = seq.queries[0][2] if seq.queries else -1
            raise ValueError(
                f"prompts[{item}] is {len(seq.ids)} tokens with its option; {lm.name} reads at most {limit} "
                "positions: shorten it"
            )


def _plan(lm: LocalModel, texts: list[str], options: list[str], sep: str, add_special: bool) -> _Plan:
    """Tokenize every (prompt, option) and decide what to run; raise on options that do not tokenize."""
    tok = lm.tokenizer
    k = len(options)
    contexts = _tokenize(tok, texts, add_special)
    fulls = _tokenize(tok, [t + sep + o for t in texts for o in options], add_special)
    alone = _tokenize(tok, [sep + o for o in options], False)
    unk = tok.unk_token_id
    sequences: list[_Sequence] = []
    for item, ctx in enumerate(contexts):
        if not ctx:
            raise ValueError(f"prompts[{item}] produced no tokens; give it text")
        conts: list[list[int]] = []
        for o, option in enumerate(options):
            full = fulls[item * k + o]
            # If the prompt's last token merges with the option, keep the prompt's own tokens.
            cont = full[len(ctx) :] if len(full) > len(ctx) and full[: len(ctx)] == ctx else alone[o]
            if not cont:
                raise ValueError(
                    f"option {option!r} adds no tokens after prompts[{item}] with sep={sep!r}; "
                    "give it visible text"
                )
            if unk is not None and unk in cont:
                raise ValueError(
                    f"option {option!r} contains characters the tokenizer of {lm.name} maps to its "
                    "unknown token; spell it with characters the model knows"
                )
            for j, other in enumerate(conts):
                if other == cont:
                    raise ValueError(
                        f"option {option!r} tokenizes to the same tokens as {options[j]!r} after "
                        f"prompts[{item}]; make the options differ in more than whitespace"
                    )
            conts.append(cont)
        shared = 0
        limit = min(len(c) for c in conts) - 1
        while shared < limit and all(c[shared] == conts[0][shared] for c in conts):
            shared += 1
        prefix = conts[0][:shared]
        base = ctx + prefix
        prefix_queries = [(len(ctx) - 1 + j, t, item, SHARED) for j, t in enumerate(prefix)]
        rests = [c[shared:] for c in conts]
        last = len(base) - 1
        if all(len(r) == 1 for r in rests):
            queries = prefix_queries + [(last, r[0], item, o) for o, r in enumerate(rests)]
            sequences.append(_Sequence(ids=base, decision=last, queries=queries))
            continue
        for o, rest in enumerate(rests):
            queries = [(last + j, t, item, o) for j, t in enumerate(rest)]
            if o == 0:
                queries = prefix_queries + queries
            sequences.append(_Sequence(ids=base + rest, decision=last, queries=queries))
    return _Plan(sequences=sequences, n_items=len(texts), n_options=k)


# ----------------------------------------------------------------------------- scoring
def _softcap(lm: LocalModel) -> float | None:
    config = lm.model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text_config, "final_logit_softcapping", None)
    return float(cap) if cap else None


MIN_PREFIX = 8
"""Shortest shared prefix (tokens) worth running once through a KV cache for a batch."""
PREFIX_TOKEN_COST = 2.0
"""Cost of a prefix token (run alone, batch 1) relative to a token inside a batch, when deciding
whether prompts share one shorter prefix or split into groups with longer ones."""


@dataclass
class _Run:
    """One batch: sequence indices, and how many leading tokens they share (run once, 0 = none)."""

    index: list[int]
    prefix: int


def _common(a: list[int], b: list[int], limit: int) -> int:
    j = 0
    while j < limit and j < len(a) and j < len(b) and a[j] == b[j]:
        j += 1
    return j


def _by_length(index: list[int], seqs: list[_Sequence], batch_size: int) -> list[_Run]:
    order = sorted(index, key=lambda i: -len(seqs[i].ids))
    return [_Run(order[s : s + batch_size], 0) for s in range(0, len(order), batch_size)]


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


def _runs(seqs: list[_Sequence], batch_size: int, use_prefix: bool) -> list[_Run]:
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
    runs: list[_Run] = []
    alone: list[int] = []
    for lo, hi, p in prefix_groups([len(seqs[i].ids) for i in order], shared):
        if not p:
            alone.extend(order[lo:hi])
            continue
        runs.extend(_Run(run.index, p) for run in _by_length(order[lo:hi], seqs, batch_size))
    return runs + _by_length(alone, seqs, batch_size)


def prefix_cache_supported(lm: LocalModel) -> bool:
    """Whether every layer of the model's KV cache is a plain key/value layer (not linear attention)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(isinstance(layer, DynamicLayer) for layer in DynamicCache(config=lm.model.config).layers)


class _Tape:
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

    def __init__(self, lm: LocalModel, tape: _Tape | None = None) -> None:
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
    lm: LocalModel, seqs: list[_Sequence], run: _Run, pad_id: int, prefixes: _PrefixCache
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
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def _score(
    lm: LocalModel,
    plan: _Plan,
    batch_size: int,
    progress: bool | None,
    prefix_cache: bool,
    tape: _Tape | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probabilities (n_items, n_options) of each option and (n_items,) of the shared tokens."""
    tok = lm.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    seqs = plan.sequences
    runs = _runs(seqs, batch_size, prefix_cache)
    prefixes = _PrefixCache(lm, tape)
    k = plan.n_options
    option_lp = torch.zeros(plan.n_items * k, dtype=torch.float64)
    shared_lp = torch.zeros(plan.n_items, dtype=torch.float64)
    cap = _softcap(lm)
    head_device = next(lm.layout.lm_head.parameters()).device
    show = progress if progress is not None else plan.n_items >= PROGRESS_MIN_ITEMS
    with torch.inference_mode():
        for run in tqdm(runs, desc="rating", unit="batch", disable=not show, leave=False):
            rows: list[int] = []
            positions: list[int] = []
            where: dict[tuple[int, int], int] = {}
            q_at: list[int] = []
            q_target: list[int] = []
            q_slot: list[int] = []
            for row, i in enumerate(run.index):
                for pos, target, item, slot in seqs[i].queries:
                    key = (row, pos - run.prefix)
                    if key not in where:
                        where[key] = len(rows)
                        rows.append(row)
                        positions.append(pos - run.prefix)
                    q_at.append(where[key])
                    q_target.append(target)
                    q_slot.append(item * k + slot if slot != SHARED else -1 - item)
            hidden = _forward(lm, seqs, run, pad_id, prefixes)
            dev = hidden.device
            picked = hidden[torch.tensor(rows, device=dev), torch.tensor(positions, device=dev)]
            logits = lm.layout.lm_head(picked.to(head_device)).float()
            if cap is not None:
                logits = torch.tanh(logits / cap) * cap
            logp = torch.log_softmax(logits, dim=-1)
            lp = logp[torch.tensor(q_at, device=logp.device), torch.tensor(q_target, device=logp.device)]
            lp = lp.double().cpu()
            slots = torch.tensor(q_slot, dtype=torch.long)
            is_option = slots >= 0
            option_lp.index_add_(0, slots[is_option], lp[is_option])
            shared_lp.index_add_(0, -1 - slots[~is_option], lp[~is_option])
    return option_lp.view(plan.n_items, k), shared_lp


def rate(
    lm: LocalModel,
    prompts: Sequence[str],
    options: Sequence[str],
    *,
    sep: str | None = None,
    values: Sequence[float] | None = None,
    reverse: bool | Sequence[bool] = False,
    chat: bool | None = None,
    system: str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    prefix_cache: bool | None = None,
) -> pd.DataFrame:
    """Rate each prompt on ``options`` from the model's probabilities of continuing with each option.

    ``sep`` joins prompt and option (default ``" "``, or ``""`` with the chat template, whose
    options are the assistant's first tokens). ``chat`` None uses the chat template when the model
    is instruction-tuned; ``system`` adds a system message. ``values`` are the options' numbers
    (default: the options themselves if numeric, else 1..k). A ``reverse`` item's expected rating
    is ``min + max - expected``. Active interventions apply; during each forward pass
    ``lm.last_positions`` marks the token that predicts the first distinguishing option token (for
    ``positions="last"``). ``prefix_cache`` (default: on unless an active intervention depends on
    token positions) batches prompts in token order and runs the leading tokens a batch shares (an
    instruction, a system prompt) once through a KV cache; the probabilities are the same to
    float precision.

    Returns one row per prompt, in input order: ``prompt``, ``p_<option>`` (renormalised over the
    options), ``mass`` (raw probability that the continuation is one of the options' token
    sequences, shared leading tokens included), ``expected``, ``argmax`` (the likeliest option)
    and ``reversed``. To rate the same prompts under many edits, use ``PreparedRating``.
    """
    prepared = PreparedRating(
        lm,
        prompts,
        options,
        sep=sep,
        values=values,
        reverse=reverse,
        chat=chat,
        system=system,
        batch_size=batch_size,
        replay=False,
    )
    return prepared(progress=progress, prefix_cache=prefix_cache)


class PreparedRating:
    """``rate`` for the same prompts under many edits: the prompts are checked, tokenised and planned
    once, and (``replay``) the blocks before the first one an edit touches return their unedited
    outputs, recorded on the first call made with no edit active, instead of computing them again.

    Exact (the same batches, the same operations) as long as the weights do not change. The recording
    holds every block's output for every prompt token (blocks x tokens x d_model floats): meant for
    the tens to hundreds of prompts an edit is read on, not for a whole benchmark.
    """

    def __init__(
        self,
        lm: LocalModel,
        prompts: Sequence[str],
        options: Sequence[str],
        *,
        sep: str | None = None,
        values: Sequence[float] | None = None,
        reverse: bool | Sequence[bool] = False,
        chat: bool | None = None,
        system: str | None = None,
        batch_size: int = 32,
        replay: bool = True,
    ) -> None:
        self.lm = lm
        self.prompts = _check_prompts(prompts)
        self.options = _check_options(options)
        self.values = _option_values(self.options, values)
        self.flags = np.array(_reverse_flags(reverse, len(self.prompts)), dtype=bool)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}; it must be a positive integer")
        if sep is not None and not isinstance(sep, str):
            raise TypeError(f"sep must be a string, got {type(sep).__name__}")
        use_chat = lm.instruct if chat is None else bool(chat)
        if system is not None and not use_chat:
            raise ValueError("system= needs the chat template; pass chat=True or drop system")
        joiner = sep if sep is not None else ("" if use_chat else " ")
        texts, add_special = _contexts(lm, self.prompts, use_chat, system)
        self.plan = _plan(lm, texts, self.options, joiner, add_special)
        _check_lengths(lm, self.plan)
        self.batch_size = batch_size
        self.replay = replay
        self._tape: _Tape | None = None

    def __call__(self, *, progress: bool | None = None, prefix_cache: bool | None = None) -> pd.DataFrame:
        """The ratings under the interventions active now (columns as ``rate`` returns them)."""
        lm = self.lm
        free = all(iv.position_free for iv in lm.active_interventions)
        if prefix_cache and not free:
            raise ValueError(
                "prefix_cache=True with an active intervention that edits chosen token positions "
                "(a steer with positions=...); its positions would shift: leave prefix_cache unset"
            )
        supported = prefix_cache_supported(lm)
        if prefix_cache and not supported:
            raise ValueError(f"prefix_cache=True: the KV cache of {lm.name} is not a plain key/value cache")
        use_prefix = free and supported if prefix_cache is None else bool(prefix_cache)
        tape = self._tape_for(use_prefix)
        option_lp, shared_lp = _score(lm, self.plan, self.batch_size, progress, use_prefix, tape)
        if tape is not None and tape.recording:
            self._tape = tape  # kept only once the whole recording pass has finished
        return self._frame(option_lp, shared_lp)

    def _tape_for(self, use_prefix: bool) -> _Tape | None:
        """The recording to replay (or to make, on a call with no edit active); None to compute all."""
        if not self.replay:
            return None
        if self._tape is None or self._tape.use_prefix != use_prefix:
            if self.lm.active_interventions:
                return None
            return _Tape(use_prefix)
        self._tape.start(recording=False, skip=replayable_blocks(self.lm.layout))
        return self._tape

    def _frame(self, option_lp: torch.Tensor, shared_lp: torch.Tensor) -> pd.DataFrame:
        total = torch.logsumexp(option_lp, dim=1)
        probs = torch.exp(option_lp - total[:, None]).numpy()
        mass = torch.exp(total + shared_lp).numpy()
        vals = self.values
        expected = probs @ vals
        lo, hi = float(vals.min()), float(vals.max())
        expected = np.where(self.flags, lo + hi - expected, expected)
        if not np.isfinite(expected).all():
            raise RuntimeError("ratings came out non-finite; the model produced NaN or infinite logits")
        frame: dict[str, object] = {"prompt": list(self.prompts)}
        for o, option in enumerate(self.options):
            frame[f"p_{option}"] = probs[:, o]
        frame["mass"] = mass
        frame["expected"] = expected
        frame["argmax"] = [self.options[int(j)] for j in probs.argmax(axis=1)]
        frame["reversed"] = self.flags.copy()
        return pd.DataFrame(frame)
