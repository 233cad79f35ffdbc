"""What a rating runs: each (prompt, option) tokenized, and the token sequences to score.

Each option is scored as a continuation of the prompt (lm-evaluation-harness style). Tokens that
every option starts with (Gemma's '▁' before a digit) move into the context; when every option is
then one distinct token, one sequence per prompt reads them all from one next-token distribution,
else each option gets a sequence of its own. Options that add no tokens, map to the unknown token or
tokenize alike are errors naming them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from transformers import PreTrainedTokenizerBase

from valuescope.readout.generation import max_positions

if TYPE_CHECKING:
    from valuescope.model import LocalModel


SHARED = -1
"""Slot of a query that scores a shared leading token rather than one option."""


@dataclass
class RatingSequence:
    """One token sequence to run and the log-probabilities to read from it."""

    ids: list[int]
    decision: int
    """Position that predicts the first distinguishing option token (``lm.last_positions``)."""
    queries: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(position, target token, item, option slot or ``SHARED``)."""


@dataclass
class RatingPlan:
    """Every sequence a rating runs, for ``n_items`` prompts on ``n_options`` options."""

    sequences: list[RatingSequence]
    n_items: int
    n_options: int


def rating_contexts(
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


def check_plan_lengths(lm: LocalModel, plan: RatingPlan) -> None:
    """A prompt (with its longest option) that the model cannot read is an error naming it."""
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


def plan_rating(
    lm: LocalModel, texts: list[str], options: list[str], sep: str, add_special: bool
) -> RatingPlan:
    """Tokenize every (prompt, option) and decide what to run; raise on options that do not tokenize."""
    tok = lm.tokenizer
    k = len(options)
    contexts = _tokenize(tok, texts, add_special)
    fulls = _tokenize(tok, [t + sep + o for t in texts for o in options], add_special)
    alone = _tokenize(tok, [sep + o for o in options], False)
    unk = tok.unk_token_id
    sequences: list[RatingSequence] = []
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
            sequences.append(RatingSequence(ids=base, decision=last, queries=queries))
            continue
        for o, rest in enumerate(rests):
            queries = [(last + j, t, item, o) for j, t in enumerate(rest)]
            if o == 0:
                queries = prefix_queries + queries
            sequences.append(RatingSequence(ids=base + rest, decision=last, queries=queries))
    return RatingPlan(sequences=sequences, n_items=len(texts), n_options=k)
