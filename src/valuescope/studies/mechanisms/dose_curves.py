"""Dose-response of a steering direction: its readings at a ladder of strengths chosen to reach stated
damage levels (KL on neutral text), and its self-rating change at equal damage.

A direction is read first at a probe strength, then at the strength the quadratic rule (KL grows about
as alpha squared) expects for each level, each strength corrected from the reading before it
(:func:`read_ladder`). What a direction does at a damage level is interpolated, per statement and
linearly in KL, between its readings and the unedited model (KL 0, no change); a level above the
largest KL the direction reached (beyond ``tolerance``) is left unread rather than extrapolated
(:func:`at_levels`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Ladder", "Reading", "at_levels", "read_ladder"]


@dataclass(frozen=True)
class Reading:
    """One strength of one direction: alpha, its damage on neutral text (mean KL with its CI, perplexity
    ratio) and every statement's self-rating change under it."""

    alpha: float
    kl: float
    kl_low: float
    kl_high: float
    ppl_ratio: float
    delta: np.ndarray


@dataclass(frozen=True)
class Ladder:
    """Every reading of one direction, and whether its strength hit the cap before the top level."""

    readings: tuple[Reading, ...]
    capped: bool

    @property
    def largest(self) -> Reading:
        """The reading with the most damage."""
        return max(self.readings, key=lambda r: r.kl)


def read_ladder(
    read: Callable[[float], tuple[dict[str, float], np.ndarray]],
    probe: Callable[[float], dict[str, float]],
    start: float,
    levels: Sequence[float],
    alpha_max: float,
) -> Ladder:
    """Read one direction at the strengths expected to reach each KL level in ``levels`` (ascending).

    ``probe(alpha)`` measures damage only; ``read(alpha)`` measures damage and the rating changes. The
    probe at ``start`` sets the first strength; each next one is the last strength times
    sqrt(level / KL read), capped at ``alpha_max`` (a capped ladder stops: stronger is not allowed).
    """
    if not levels or any(b <= a for a, b in itertools.pairwise(levels)) or levels[0] <= 0:
        raise ValueError(f"levels must be positive and ascending, got {list(levels)}")
    alpha, kl = start, probe(start)["kl_mean"]
    out: list[Reading] = []
    for level in levels:
        nxt = alpha * 4.0 if kl <= 1e-9 else alpha * math.sqrt(level / kl)
        capped = nxt >= alpha_max
        alpha = min(nxt, alpha_max)
        d, delta = read(alpha)
        kl = d["kl_mean"]
        out.append(
            Reading(alpha, kl, d["kl_ci_low"], d["kl_ci_high"], d["ppl_ratio"], np.asarray(delta, float))
        )
        if capped:
            return Ladder(tuple(out), capped=True)
    return Ladder(tuple(out), capped=False)


def at_levels(ladder: Ladder, levels: Sequence[float], tolerance: float) -> np.ndarray:
    """(levels, statements) rating changes at each KL level, interpolated linearly in KL between the
    ladder's readings (sorted by KL) and the unedited model (KL 0, change 0). A level above the largest
    KL read is taken at that reading when within ``tolerance`` (relative) of it, else left NaN."""
    rows = sorted(ladder.readings, key=lambda r: r.kl)
    kls = np.array([0.0, *(r.kl for r in rows)])
    deltas = np.vstack([np.zeros_like(rows[0].delta), *(r.delta for r in rows)])
    out = np.full((len(levels), deltas.shape[1]), np.nan)
    top = kls[-1]
    for i, level in enumerate(levels):
        if level > top * (1.0 + tolerance):
            continue
        x = min(level, top)
        j = int(np.searchsorted(kls, x, side="left"))
        if j == 0 or kls[j] == x:
            out[i] = deltas[j]
            continue
        w = (x - kls[j - 1]) / (kls[j] - kls[j - 1])
        out[i] = (1.0 - w) * deltas[j - 1] + w * deltas[j]
    return out


def ladder_rows(ladder: Ladder, **keys: Any) -> list[dict[str, Any]]:
    """One table row per reading of ``ladder`` (its strength and damage), with ``keys`` in front."""
    return [
        {
            **keys,
            "step": k,
            "alpha": r.alpha,
            "kl": r.kl,
            "kl_low": r.kl_low,
            "kl_high": r.kl_high,
            "ppl_ratio": r.ppl_ratio,
            "capped": ladder.capped and k == len(ladder.readings) - 1,
        }
        for k, r in enumerate(ladder.readings)
    ]
