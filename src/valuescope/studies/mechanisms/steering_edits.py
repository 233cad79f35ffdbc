"""The edits of ``mechanisms``'s steering step, and their reading.

Steering vectors of every kind (:data:`VECTOR_KINDS`) at the read point; alpha by the config's rule
(``match_alpha``: fixed, or matched to a target KL on neutral text); the values steered, spread round the
circle; and the reading of each edit's self-rating changes and damage (:class:`EditReadings`): the value
vectors, random directions drawn from the residual covariance (at the prompted vector's alpha, and at
matched damage), and value neurons scaled against as many random neurons per block.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.edit import controls as ctl
from valuescope.readout.damage import DamageMeter
from valuescope.readout.ratings import PreparedRating
from valuescope.studies.mechanisms import analysis as mech
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.outputs import (
    INTRINSIC_ONLY,
    INTRINSIC_VECTORS,
    PROMPTED_ONLY,
    PROMPTED_VECTORS,
    READ_POINT,
    SHARED_AXES,
)
from valuescope.studies.mechanisms.self_ratings import expected_ratings
from valuescope.studies.protocol import UnitContext

VALUES = list(SCHWARTZ_VALUES)
VECTOR_KINDS = ("intrinsic", "prompted", "intrinsic_only", "prompted_only", "shared")
"""Steering vectors per value: each condition's vector, each orthogonalised against the other, and
their shared axis."""

Edits = Callable[[float], Any]
"""An edit as a function of its strength alpha."""


# ------------------------------------------------------------------------------------ vectors and alpha


def steering_vectors(ctx: UnitContext[MechanismsConfig]) -> dict[str, np.ndarray]:
    """Unit steering vectors (10, d) of every kind at the chosen read point."""
    rp = ctx.read(READ_POINT)
    raw = {
        "intrinsic": ctx.read(INTRINSIC_VECTORS)[:, rp],
        "prompted": ctx.read(PROMPTED_VECTORS)[:, rp],
        "intrinsic_only": ctx.read(INTRINSIC_ONLY),
        "prompted_only": ctx.read(PROMPTED_ONLY),
        "shared": ctx.read(SHARED_AXES),
    }
    return {k: mech.unit(v.double().numpy()) for k, v in raw.items()}


def match_alpha(
    make: Edits, meter: DamageMeter, cfg: MechanismsConfig, start: float
) -> tuple[float, dict[str, float], bool]:
    """(alpha, damage, matched) by the config's rule. ``matched_kl`` rescales alpha by
    sqrt(target / KL) (KL grows about quadratically) until KL is within the tolerance band, up to
    four tries and ``alpha_max``; the closest try is returned with matched False if none was in band."""
    if cfg.alpha_rule == "fixed":
        return cfg.alpha, meter(make(cfg.alpha)), True
    alpha, tried = min(start, cfg.alpha_max), []
    for _ in range(4):
        d = meter(make(alpha))
        tried.append((abs(math.log(max(d["kl_mean"], 1e-9) / cfg.target_kl)), alpha, d))
        ratio = d["kl_mean"] / cfg.target_kl
        if abs(ratio - 1) <= cfg.kl_tolerance:
            return alpha, d, True
        nxt = alpha * 4 if d["kl_mean"] <= 1e-9 else alpha / math.sqrt(ratio)
        nxt = min(nxt, cfg.alpha_max)
        if nxt == alpha:
            break
        alpha = nxt
    _, alpha, d = min(tried, key=lambda t: t[0])
    return alpha, d, False


def next_start(alpha: float, damage: dict[str, float], cfg: MechanismsConfig) -> float:
    """First alpha to try for the next vector of a kind: this one's matched alpha, moved to the
    target KL by the quadratic rule (this one's KL was anywhere in the tolerance band)."""
    kl = damage["kl_mean"]
    return min(alpha * math.sqrt(cfg.target_kl / kl), cfg.alpha_max) if kl > 1e-9 else alpha


def steered_values(n: int) -> list[int]:
    """Indices into ``VALUES`` of the ``n`` steered values, spread evenly round the circle."""
    return [i * len(VALUES) // n for i in range(n)]


# -------------------------------------------------------------------------------------- reading edits


@dataclass
class EditReadings:
    """The self-rating change under every edit read so far (kind -> (steered values, statements)), and
    each edit's damage."""

    rating: PreparedRating
    base: np.ndarray
    steered: list[int]
    bar: Any
    deltas: dict[str, np.ndarray] = field(default_factory=dict)
    damage_rows: list[dict[str, Any]] = field(default_factory=list)

    def read(
        self, kind: str, r: int, edit: Any, alpha: float | None, d: dict[str, float], matched: bool
    ) -> None:
        """Read edit ``kind`` of steered value ``r`` (a row of ``steered``)."""
        with edit:
            self.deltas.setdefault(kind, np.zeros((len(self.steered), len(self.base))))[r] = (
                expected_ratings(self.rating) - self.base
            )
        self.damage_rows.append(
            {
                "kind": kind,
                "value": VALUES[self.steered[r]],
                "alpha": alpha,
                "kl": d["kl_mean"],
                "kl_low": d["kl_ci_low"],
                "kl_high": d["kl_ci_high"],
                "ppl_ratio": d["ppl_ratio"],
                "matched": matched,
            }
        )
        self.bar.update(1)

    def average(self, name: str, kinds: list[str]) -> None:
        """Store the mean change over the control draws ``kinds`` as ``name``."""
        self.deltas[name] = np.mean([self.deltas[k] for k in kinds], axis=0)


def edit_count(cfg: MechanismsConfig, n_steered: int, with_neurons: bool) -> int:
    """How many edits the steering step reads (for its progress bar)."""
    n_random_edits = (2 if cfg.random_matched else 1) * cfg.n_random
    return n_steered * (len(VECTOR_KINDS) + n_random_edits + (1 + cfg.n_random if with_neurons else 0))


def steering_edits(lm: Any, read_point: int) -> Callable[[np.ndarray], Edits]:
    """For a direction, its steering edit at ``read_point`` as a function of alpha."""

    def along(vec: np.ndarray) -> Edits:
        t = torch.from_numpy(vec).float()
        return lambda a: lm.steer(t, [read_point], alpha=a)

    return along


def read_value_vectors(
    readings: EditReadings,
    steer: Callable[[np.ndarray], Edits],
    vectors: dict[str, np.ndarray],
    meter: DamageMeter,
    cfg: MechanismsConfig,
) -> dict[str, list[float]]:
    """Read every kind of value vector of every steered value at the alpha of the config's rule; the
    alphas, per kind."""
    alphas: dict[str, list[float]] = {}
    for kind in VECTOR_KINDS:
        start = cfg.alpha
        for r, v in enumerate(readings.steered):
            make = steer(vectors[kind][v])
            alpha, d, matched = match_alpha(make, meter, cfg, start)
            start = next_start(alpha, d, cfg)
            alphas.setdefault(kind, []).append(alpha)
            readings.read(kind, r, make(alpha), alpha, d, matched)
    return alphas


def read_random_directions(
    readings: EditReadings,
    steer: Callable[[np.ndarray], Edits],
    reference: np.ndarray,
    prompted_alphas: list[float],
    meter: DamageMeter,
    cfg: MechanismsConfig,
    rng: np.random.Generator,
) -> tuple[list[str], list[str]]:
    """Read ``n_random`` random directions per steered value, drawn from the covariance of the
    ``reference`` tokens, at the alpha of the value's prompted vector and (``random_matched``) at matched
    damage. The kinds read (equal alpha, matched damage); their means are stored as ``random`` and
    ``random_matched``."""
    equal = [f"random_{k}" for k in range(cfg.n_random)]
    matched = [f"random_matched_{k}" for k in range(cfg.n_random)] if cfg.random_matched else []
    for k in range(cfg.n_random):
        start = cfg.alpha
        for r in range(len(readings.steered)):
            make = steer(ctl.covariance_directions(reference, 1, rng)[0])
            alpha = prompted_alphas[r]
            edit = make(alpha)
            readings.read(equal[k], r, edit, alpha, meter(edit), True)
            if cfg.random_matched:
                alpha, d, ok = match_alpha(make, meter, cfg, start)
                start = next_start(alpha, d, cfg)
                readings.read(matched[k], r, make(alpha), alpha, d, ok)
    readings.average("random", equal)
    if matched:
        readings.average("random_matched", matched)
    return equal, matched


def read_value_neurons(
    readings: EditReadings,
    lm: Any,
    codes: np.ndarray,
    meter: DamageMeter,
    cfg: MechanismsConfig,
    rng: np.random.Generator,
) -> list[str]:
    """Scale each steered value's neurons (``codes`` of the ``neurons`` step), then ``n_random`` draws of as
    many random neurons per block. The control kinds read; their mean is stored as ``random_neurons``."""
    kinds = [f"random_neurons_{k}" for k in range(cfg.n_random)]
    for r, v in enumerate(readings.steered):
        chosen = {b: np.flatnonzero(codes[v, b] > 0).tolist() for b in range(codes.shape[1])}
        chosen = {b: ix for b, ix in chosen.items() if ix}
        edit = lm.scale_neurons(chosen, cfg.neuron_scale)
        readings.read("neurons", r, edit, None, meter(edit), True)
        width = codes.shape[2]
        for kind in kinds:
            rand = {b: rng.choice(width, len(ix), replace=False).tolist() for b, ix in chosen.items()}
            edit = lm.scale_neurons(rand, cfg.neuron_scale)
            readings.read(kind, r, edit, None, meter(edit), True)
    readings.average("random_neurons", kinds)
    return kinds
