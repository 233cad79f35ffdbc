"""Checks of the arguments that ratings and generation take (prompts, options, option values,
reverse flags, sampling settings, stop strings), shared by the local readouts and the API backend.

Each check raises a one-line ``TypeError`` or ``ValueError`` naming the argument (and the row) that
is wrong and how to fix it, before any model work, and returns the argument in the form the caller
computes with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sampling:
    """Checked sampling settings: ``temperature`` 0 is greedy, ``top_k`` 0 keeps every token."""

    temperature: float
    top_p: float
    top_k: int

    @property
    def greedy(self) -> bool:
        """Whether every step takes the likeliest token."""
        return self.temperature == 0.0 or self.top_k == 1


def check_prompts(prompts: object) -> list[str]:
    """A non-empty list of non-empty strings, as a list."""
    if isinstance(prompts, str | bytes):
        raise TypeError("prompts must be a list of strings, not a single string; wrap it: [prompt]")
    if not isinstance(prompts, Sequence):
        raise TypeError(f"prompts must be a list of strings, got {type(prompts).__name__}")
    if len(prompts) == 0:
        raise ValueError("prompts is empty; pass at least one prompt")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] is {type(p).__name__} ({p!r:.60}); every prompt must be a string")
        if not p:
            raise ValueError(f"prompts[{i}] is an empty string; give every prompt some text")
    return [str(p) for p in prompts]


def check_options(options: object) -> list[str]:
    """At least two distinct option strings with visible text."""
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


def option_values(options: list[str], values: Sequence[float] | None) -> np.ndarray:
    """The number of each option: ``values``, else the options themselves if numeric, else 1..k."""
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


def reverse_flags(reverse: bool | Sequence[bool], n: int) -> list[bool]:
    """One reverse-keying flag per prompt, from one bool or a list of ``n``."""
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


def check_int(value: object, name: str, minimum: int) -> int:
    """``value`` as an int, refusing bools, non-integers and values below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    return int(value)


def check_sampling(temperature: object, top_p: object, top_k: object) -> Sampling:
    """Temperature >= 0, ``top_p`` in (0, 1] and ``top_k`` >= 0 as ``Sampling``."""
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise TypeError(f"temperature={temperature!r}: must be a number >= 0 (0 = greedy)")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature={temperature!r}: must be a finite number >= 0 (0 = greedy)")
    if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p={top_p!r}: must be a number in (0, 1] (1 = no nucleus truncation)")
    top_k = check_int(top_k, "top_k", 0)
    return Sampling(float(temperature), float(top_p), top_k)


def check_stop(stop: object) -> list[str]:
    """Stop strings as a list (none for ``None``, one for a string)."""
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, Sequence) or not all(isinstance(s, str) and s for s in stop):
        raise ValueError(f"stop={stop!r:.80}: must be a list of non-empty strings")
    return list(stop)
