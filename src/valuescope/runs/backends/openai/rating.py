"""Ratings from a server's next-token log-probabilities, or from sampled answers when it gives none.

The procedure behind ``ApiModel.rate``: one logprob request per prompt, matching the returned tokens
to the options (a second request after a bare separator on ``/completions``), a sampled fallback
for rows without log-probabilities, and the same expected rating and columns as a local rating
(``readout.ratings.expected_ratings`` and ``rating_frame``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from valuescope.readout.arguments import check_int, check_options, check_prompts, option_values, reverse_flags
from valuescope.readout.ratings import expected_ratings, rating_frame
from valuescope.runs.backends.openai.protocol import (
    Request,
    choose_chat,
    completion_request,
    completion_text,
    first_top_logprobs,
    logprob_request,
    normalise,
)
from valuescope.runs.backends.openai.spec import ApiSpec

SAMPLE_MAX_TOKENS = 16
"""Length of each sampled answer when the server gives no log-probabilities."""

PostMany = Callable[[Sequence[Request], bool | None, str], list[dict[str, Any]]]
"""Sends requests (with a progress setting and label) and returns the responses in input order."""


def rate_on_server(
    post_many: PostMany,
    spec: ApiSpec,
    prompts: Sequence[str],
    options: Sequence[str],
    *,
    sep: str | None,
    values: Sequence[float] | None,
    reverse: bool | Sequence[bool],
    chat: bool | None,
    system: str | None,
    n_samples: int | None,
    progress: bool | None,
) -> pd.DataFrame:
    """Rate ``prompts`` on ``options`` through ``post_many`` (arguments and columns as ``ApiModel.rate``)."""
    prompt_list = check_prompts(prompts)
    opts = check_options(options)
    vals = option_values(opts, values)
    flags = np.array(reverse_flags(reverse, len(prompt_list)), dtype=bool)
    if sep is not None and not isinstance(sep, str):
        raise TypeError(f"sep must be a string, got {type(sep).__name__}")
    use_chat = choose_chat(spec.chat, chat, system)
    joiner = sep if sep is not None else ("" if use_chat else " ")
    n_draws = check_int(spec.n_samples if n_samples is None else n_samples, "n_samples", 1)

    first = post_many(
        [logprob_request(spec.model, spec.top_logprobs, p, use_chat, system) for p in prompt_list],
        progress,
        "rating",
    )
    n, k = len(prompt_list), len(opts)
    raw = np.zeros((n, k), dtype=np.float64)
    method = ["logprobs"] * n
    draws = [0] * n
    continue_sep: list[tuple[int, float]] = []  # (row, P(bare separator))
    to_sample: list[int] = []
    for row, data in enumerate(first):
        top = first_top_logprobs(data, use_chat)
        if top is None:
            to_sample.append(row)
            continue
        if use_chat:
            targets = [o.lstrip(" ") for o in opts]
            raw[row] = _match(top, targets, strip=True)
        else:
            raw[row] = _match(top, [joiner + o for o in opts], strip=False)
            if joiner:
                p_sep = sum(math.exp(lp) for t, lp in top if normalise(t) == joiner)
                if p_sep > raw[row].sum():
                    continue_sep.append((row, p_sep))
    if continue_sep:
        second = post_many(
            [
                logprob_request(spec.model, spec.top_logprobs, prompt_list[r] + joiner, False, None)
                for r, _ in continue_sep
            ],
            progress,
            "rating",
        )
        for (row, p_sep), data in zip(continue_sep, second, strict=True):
            top = first_top_logprobs(data, False)
            if top is not None:
                raw[row] += p_sep * _match(top, opts, strip=False)
    if to_sample:
        requests = [
            completion_request(
                spec.model,
                prompt_list[r],
                use_chat,
                system,
                max_tokens=SAMPLE_MAX_TOKENS,
                temperature=1.0,
                seed=j,
            )
            for r in to_sample
            for j in range(n_draws)
        ]
        answers = post_many(requests, progress, "sampling")
        for i, row in enumerate(to_sample):
            for data in answers[i * n_draws : (i + 1) * n_draws]:
                o = _first_option(completion_text(data, use_chat), opts)
                if o is not None:
                    raw[row, o] += 1.0 / n_draws
            method[row], draws[row] = "sampled", n_draws
    return _frame(prompt_list, opts, vals, flags, raw, method, draws)


def _match(top: list[tuple[str, float]], targets: list[str], strip: bool) -> np.ndarray:
    """Summed probability of the returned tokens that spell each target."""
    out = np.zeros(len(targets), dtype=np.float64)
    where = {t: i for i, t in enumerate(targets)}
    for token, logprob in top:
        text = normalise(token)
        i = where.get(text.lstrip(" ") if strip else text)
        if i is not None:
            out[i] += math.exp(logprob)
    return out


def _first_option(answer: str, options: list[str]) -> int | None:
    """Index of the option found earliest in ``answer`` (the longer one at a tie), or None."""
    best: tuple[int, int] | None = None
    for o, option in enumerate(options):
        at = answer.find(option)
        if at < 0:
            continue
        if best is None or at < best[0] or (at == best[0] and len(option) > len(options[best[1]])):
            best = (at, o)
    return None if best is None else best[1]


def _frame(
    prompts: list[str],
    opts: list[str],
    vals: np.ndarray,
    flags: np.ndarray,
    raw: np.ndarray,
    method: list[str],
    draws: list[int],
) -> pd.DataFrame:
    """The rating's columns from the options' raw probabilities (NaN where no option was seen), then
    ``method``, ``n_missing_options`` and ``n_samples``."""
    mass = raw.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = np.where(mass[:, None] > 0, raw / mass[:, None], np.nan)
    argmax = [opts[int(np.argmax(r))] if m > 0 else None for r, m in zip(raw, mass, strict=True)]
    frame = rating_frame(prompts, opts, probs, mass, expected_ratings(probs, vals, flags), argmax, flags)
    frame["method"] = method
    frame["n_missing_options"] = (raw <= 0).sum(axis=1).astype(np.int64)
    frame["n_samples"] = np.array(draws, dtype=np.int64)
    return frame
