"""Likert and multiple-choice ratings from next-token probabilities over the option tokens.

Each option is scored as a continuation of the prompt (lm-evaluation-harness style): the sum of
the log-probabilities of its tokens, renormalised over the options (``readout.rating_plan`` plans
the sequences, ``readout.rating_batches`` batches them, ``readout.rating_scores`` runs them).
``rate`` rates once; ``PreparedRating`` rates the same prompts under many edits. The expected
rating and the columns of the returned table (``expected_ratings``, ``rating_frame``) are shared
with the API backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from valuescope.readout.arguments import check_options, check_prompts, option_values, reverse_flags
from valuescope.readout.capture import replayable_blocks
from valuescope.readout.rating_plan import check_plan_lengths, plan_rating, rating_contexts
from valuescope.readout.rating_scores import Tape, prefix_cache_supported, score_plan

if TYPE_CHECKING:
    from valuescope.model import LocalModel


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
    mass: bool = True,
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
    float precision. ``mass=False`` leaves the ``mass`` column NaN and skips the vocabulary-wide
    normaliser at the decision position, which the renormalised probabilities do not need (the same
    probabilities to float precision; faster for a large vocabulary).

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
        mass=mass,
    )
    return prepared(progress=progress, prefix_cache=prefix_cache)


class PreparedRating:
    """``rate`` for the same prompts under many edits: the prompts are checked, tokenised and planned
    once, and (``replay``) the blocks before the first one an edit touches return their unedited
    outputs, recorded on the first call made with no edit active, instead of computing them again.

    Exact (the same batches, the same operations) as long as the weights do not change. The recording
    holds every block's output for every prompt token (blocks x tokens x d_model floats): meant for
    the tens to hundreds of prompts an edit is read on, not for a whole benchmark. ``mass=False`` as in
    ``rate`` (for readings under edits that use the expected rating only).
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
        mass: bool = True,
    ) -> None:
        self.lm = lm
        self.prompts = check_prompts(prompts)
        self.options = check_options(options)
        self.values = option_values(self.options, values)
        self.flags = np.array(reverse_flags(reverse, len(self.prompts)), dtype=bool)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}; it must be a positive integer")
        if sep is not None and not isinstance(sep, str):
            raise TypeError(f"sep must be a string, got {type(sep).__name__}")
        use_chat = lm.instruct if chat is None else bool(chat)
        if system is not None and not use_chat:
            raise ValueError("system= needs the chat template; pass chat=True or drop system")
        joiner = sep if sep is not None else ("" if use_chat else " ")
        texts, add_special = rating_contexts(lm, self.prompts, use_chat, system)
        self.plan = plan_rating(lm, texts, self.options, joiner, add_special)
        check_plan_lengths(lm, self.plan)
        self.batch_size = batch_size
        self.replay = replay
        self.mass = mass
        self._tape: Tape | None = None

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
        option_lp, shared_lp = score_plan(
            lm, self.plan, self.batch_size, progress, use_prefix, tape, self.mass
        )
        if tape is not None and tape.recording:
            self._tape = tape  # kept only once the whole recording pass has finished
        return self._frame(option_lp, shared_lp)

    def _tape_for(self, use_prefix: bool) -> Tape | None:
        """The recording to replay (or to make, on a call with no edit active); None to compute all."""
        if not self.replay:
            return None
        if self._tape is None or self._tape.use_prefix != use_prefix:
            if self.lm.active_interventions:
                return None
            return Tape(use_prefix)
        self._tape.start(recording=False, skip=replayable_blocks(self.lm.layout))
        return self._tape

    def _frame(self, option_lp: torch.Tensor, shared_lp: torch.Tensor) -> pd.DataFrame:
        total = torch.logsumexp(option_lp, dim=1)
        probs = torch.exp(option_lp - total[:, None]).numpy()
        mass = torch.exp(total + shared_lp).numpy()
        expected = expected_ratings(probs, self.values, self.flags)
        if not np.isfinite(expected).all():
            raise RuntimeError("ratings came out non-finite; the model produced NaN or infinite logits")
        argmax = [self.options[int(j)] for j in probs.argmax(axis=1)]
        return rating_frame(self.prompts, self.options, probs, mass, expected, argmax, self.flags.copy())


def expected_ratings(probs: np.ndarray, values: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Expected rating per row of ``probs`` (rows, options) on the options' ``values``; a ``reverse``
    row is keyed the other way: ``min + max - expected``."""
    expected = probs @ values
    lo, hi = float(values.min()), float(values.max())
    keyed: np.ndarray = np.where(reverse, lo + hi - expected, expected)
    return keyed


def rating_frame(
    prompts: list[str],
    options: list[str],
    probs: np.ndarray,
    mass: np.ndarray,
    expected: np.ndarray,
    argmax: Sequence[str | None],
    reverse: np.ndarray,
) -> pd.DataFrame:
    """The columns every rating returns, one row per prompt: ``prompt``, ``p_<option>``, ``mass``,
    ``expected``, ``argmax`` and ``reversed``."""
    frame: dict[str, object] = {"prompt": list(prompts)}
    for o, option in enumerate(options):
        frame[f"p_{option}"] = probs[:, o]
    frame["mass"] = mass
    frame["expected"] = expected
    frame["argmax"] = list(argmax)
    frame["reversed"] = reverse
    return pd.DataFrame(frame)
