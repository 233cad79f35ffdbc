"""Likert and multiple-choice ratings from next-token probabilities over the option tokens.

Each option is scored as a continuation of the prompt (lm-evaluation-harness style): the sum of
the log-probabilities of its tokens, renormalised over the options. Tokens that every option
starts with (Gemma's '▁' before a digit) move into the context; when every option is then one
distinct token, one forward pass per prompt reads them all from one next-token distribution.
Only the positions that are scored go through the LM head.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from valuescope.readout.batching import validate_items

if TYPE_CHECKING:
    from valuescope.language_model import LanguageModel

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
    lm: LanguageModel, prompts: list[str], use_chat: bool, system: str | None
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


def _check_lengths(lm: LanguageModel, plan: _Plan) -> None:
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


def _plan(lm: LanguageModel, texts: list[str], options: list[str], sep: str, add_special: bool) -> _Plan:
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
def _softcap(lm: LanguageModel) -> float | None:
    config = lm.model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text_config, "final_logit_softcapping", None)
    return float(cap) if cap else None


MIN_PREFIX = 8
"""Shortest shared prefix (tokens) worth running once through a KV cache for a batch."""


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


def _shared_prefix(seqs: list[_Sequence], index: list[int]) -> int:
    """Leading tokens every sequence in ``index`` (in token order) shares before its first scored position."""
    limit = min(min(q[0] for q in seqs[i].queries) for i in index)
    return _common(seqs[index[0]].ids, seqs[index[-1]].ids, limit)


def _by_length(index: list[int], seqs: list[_Sequence], batch_size: int) -> list[_Run]:
    order = sorted(index, key=lambda i: -len(seqs[i].ids))
    return [_Run(order[s : s + batch_size], 0) for s in range(0, len(order), batch_size)]


def _runs(seqs: list[_Sequence], batch_size: int, use_prefix: bool) -> list[_Run]:
    """Batches: by length, or (``use_prefix``) runs of sequences sharing at least ``MIN_PREFIX``
    leading tokens, in token order, each with its shared prefix; sequences sharing none go by length."""
    if not use_prefix:
        return _by_length(list(range(len(seqs))), seqs, batch_size)
    order = sorted(range(len(seqs)), key=lambda i: seqs[i].ids)
    groups: list[list[int]] = []
    for i in order:
        if groups and _shared_prefix(seqs, [groups[-1][0], i]) >= MIN_PREFIX:
            groups[-1].append(i)
        else:
            groups.append([i])
    runs: list[_Run] = []
    alone: list[int] = []
    for group in groups:
        shared = _shared_prefix(seqs, group)  # one prefix per group, so its KV cache is computed once
        for s in range(0, len(group), batch_size):
            chunk = group[s : s + batch_size]
            if len(chunk) == 1:
                alone.extend(chunk)
            else:
                runs.append(_Run(chunk, shared))
    return runs + _by_length(alone, seqs, batch_size)


def prefix_cache_supported(lm: LanguageModel) -> bool:
    """Whether every layer of the model's KV cache is a plain key/value layer (not linear attention)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(isinstance(layer, DynamicLayer) for layer in DynamicCache(config=lm.model.config).layers)


class _PrefixCache:
    """The KV cache of the last prefix run (batch 1), handed out expanded to each batch that shares it."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
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
            lm.layout.body(input_ids=torch.tensor([ids], device=lm.device), use_cache=True, **kwargs)
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
    lm: LanguageModel, seqs: list[_Sequence], run: _Run, pad_id: int, prefixes: _PrefixCache
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
        out = lm.layout.body(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
    finally:
        lm.last_positions = None
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def _score(
    lm: LanguageModel, plan: _Plan, batch_size: int, progress: bool | None, prefix_cache: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probabilities (n_items, n_options) of each option and (n_items,) of the shared tokens."""
    tok = lm.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    seqs = plan.sequences
    runs = _runs(seqs, batch_size, prefix_cache)
    prefixes = _PrefixCache(lm)
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
    lm: LanguageModel,
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
    and ``reversed``.
    """
    prompt_list = _check_prompts(prompts)
    opts = _check_options(options)
    vals = _option_values(opts, values)
    flags = _reverse_flags(reverse, len(prompt_list))
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; it must be a positive integer")
    if sep is not None and not isinstance(sep, str):
        raise TypeError(f"sep must be a string, got {type(sep).__name__}")
    use_chat = lm.instruct if chat is None else bool(chat)
    if system is not None and not use_chat:
        raise ValueError("system= needs the chat template; pass chat=True or drop system")
    joiner = sep if sep is not None else ("" if use_chat else " ")
    texts, add_special = _contexts(lm, prompt_list, use_chat, system)
    plan = _plan(lm, texts, opts, joiner, add_special)
    _check_lengths(lm, plan)

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
    option_lp, shared_lp = _score(lm, plan, batch_size, progress, use_prefix)
    total = torch.logsumexp(option_lp, dim=1)
    probs = torch.exp(option_lp - total[:, None]).numpy()
    mass = torch.exp(total + shared_lp).numpy()
    expected = probs @ vals
    lo, hi = float(vals.min()), float(vals.max())
    flag_arr = np.array(flags, dtype=bool)
    expected = np.where(flag_arr, lo + hi - expected, expected)
    if not np.isfinite(expected).all():
        raise RuntimeError("ratings came out non-finite; the model produced NaN or infinite logits")
    frame: dict[str, object] = {"prompt": prompt_list}
    for o, option in enumerate(opts):
        frame[f"p_{option}"] = probs[:, o]
    frame["mass"] = mass
    frame["expected"] = expected
    frame["argmax"] = [opts[int(j)] for j in probs.argmax(axis=1)]
    frame["reversed"] = flag_arr
    return pd.DataFrame(frame)
