"""Step 5 of ``mechanisms``: value neurons. Each MLP neuron of block b is scored by how its write
direction projects on a value's shared and difference axes at read point b + 1; the top fraction
are that value's neurons, shared or intrinsic-only / prompted-only by angle."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.edit import controls as ctl
from valuescope.stats.metrics import metric
from valuescope.studies.mechanisms import analysis as mech
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.neuron_geometry import (
    neuron_kinds,
    random_plane_shared_fraction,
    shared_fraction_null,
)
from valuescope.studies.mechanisms.outputs import VALUE_NEURONS
from valuescope.studies.mechanisms.vectors import ResponseReadout, fit_each, read_responses
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
KINDS = ("none", "shared", "intrinsic", "prompted")
"""Codes 0-3 of the ``value_neurons`` tensor."""


def _axes(r: ResponseReadout, rp: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shared and difference axes (10, d) from rows ``idx``; NaN rows for values that cannot be fit."""
    c = r.condition[idx]
    vi = fit_each(r.x[idx, rp][c == "intrinsic"], r.labels[idx][c == "intrinsic"])
    vp = fit_each(r.x[idx, rp][c == "prompted"], r.labels[idx][c == "prompted"])
    shared, difference = np.full_like(vi, np.nan), np.full_like(vi, np.nan)
    ok = ~(np.isnan(vi).any(1) | np.isnan(vp).any(1))
    if ok.any():
        shared[ok], difference[ok] = mech.shared_and_difference_axes(vi[ok], vp[ok])
    return shared, difference


def _shared_fraction(codes: list[np.ndarray]) -> float:
    """Mean over values of shared / kept neurons, pooled over blocks (values with no kept neuron skipped)."""
    stacked = np.concatenate(codes, axis=1)
    kept = (stacked > 0).sum(1)
    ok = kept > 0
    return float(np.mean((stacked[ok] == 1).sum(1) / kept[ok])) if ok.any() else float("nan")


def _from_covariance(x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    return ctl.covariance_directions(x, m, rng)


def neurons_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    """Classify every MLP neuron by its write direction against each value's shared and difference axes;
    the shared fraction with a CI over queries and against random planes from the residual covariance;
    the counts and the overlap of the values' neuron sets."""
    cfg = ctx.config
    lm = ctx.local
    r = read_responses(ctx)
    writes = [lm.neuron_write_directions(b).double().numpy() for b in range(lm.n_layers)]
    codes = _neuron_codes(r, writes, cfg, np.arange(len(r.queries)))

    def stat(idx: np.ndarray) -> float:
        return _shared_fraction(_neuron_codes(r, writes, cfg, idx))

    estimate = stats.bootstrap(
        stat, len(r.queries), groups=r.queries, n_boot=max(50, cfg.n_boot // 5), seed=ctx.seed
    )
    p, against = _p_against_random_planes(estimate[0], _random_plane_null(r, writes, cfg, ctx.seed))
    counts = _neuron_counts(codes)
    all_codes = np.stack(codes, axis=1)  # (V, blocks, n)
    overlaps = _neuron_overlaps(all_codes)
    return Artifacts(
        tables={"neuron_counts": counts, "neuron_overlap": overlaps},
        tensors={VALUE_NEURONS.name: torch.from_numpy(all_codes)},
        metrics={
            "value_neurons_shared_fraction": _shared_fraction_metric(
                estimate, p, against, counts, len(np.unique(r.queries)), cfg
            ),
            "value_neurons_overlap": _overlap_metric(overlaps),
        },
    )


def _neuron_codes(
    r: ResponseReadout, writes: list[np.ndarray], cfg: MechanismsConfig, idx: np.ndarray
) -> list[np.ndarray]:
    """Per block, the (10, n_neurons) codes of ``KINDS`` from the axes fit on rows ``idx``; an all-zero
    row for a value unfit on these rows."""
    out = []
    for b, w in enumerate(writes):
        shared, difference = _axes(r, b + 1, idx)
        ok = ~np.isnan(shared).any(1)
        block = np.zeros((len(VALUES), w.shape[0]), dtype=np.int8)
        if ok.any():
            block[ok] = neuron_kinds(w, shared[ok], difference[ok], cfg.neuron_top_fraction, cfg.neuron_angle)
        out.append(block)
    return out


def _random_plane_null(
    r: ResponseReadout, writes: list[np.ndarray], cfg: MechanismsConfig, seed: int
) -> np.ndarray:
    """Shared fractions of random planes: a random plane per value and block, as many values as the real
    fraction averages over, its axes drawn from the covariance of the responses' residuals at the block's
    output (not isotropic)."""
    n_null = max(ctl.draws_needed(), cfg.n_perm // 10)
    per_block = [
        random_plane_shared_fraction(
            w, cfg.neuron_top_fraction, cfg.neuron_angle, n_null * len(VALUES), seed=seed + b,
            draw=partial(_from_covariance, r.x[:, b + 1]),
        )
        for b, w in enumerate(writes)
    ]  # fmt: skip
    return np.asarray(np.mean(per_block, axis=0).reshape(n_null, len(VALUES)).mean(axis=1))


def _p_against_random_planes(estimate: float, null: np.ndarray) -> tuple[float | None, str]:
    """p of the shared fraction against the random planes', and the null in words (no p without spread)."""
    spread = stats.summarize_null(null)
    if not np.isfinite(estimate) or spread.high - spread.low <= 0:
        return None, f"random planes {spread.describe(2)}: no spread, so no p"
    p = stats.tie_p(estimate, null, alternative="greater")
    return p, f"random planes from the residual covariance: {spread.describe(2)}; p against them"


def _neuron_counts(codes: list[np.ndarray]) -> pd.DataFrame:
    """Per block, value and kind of neuron: how many there are."""
    return pd.DataFrame(
        [
            {"block": b, "value": value, "kind": kind, "count": int((block_codes[v] == code).sum())}
            for b, block_codes in enumerate(codes)
            for v, value in enumerate(VALUES)
            for code, kind in enumerate(KINDS[1:], start=1)
        ]
    )


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _neuron_overlaps(all_codes: np.ndarray) -> pd.DataFrame:
    """Per pair of values: the Jaccard overlap of their neuron sets, and of their shared neurons."""
    return pd.DataFrame(
        [
            {
                "value_a": va,
                "value_b": vb,
                "jaccard": _jaccard(all_codes[a] > 0, all_codes[b] > 0),
                "shared_jaccard": _jaccard(all_codes[a] == 1, all_codes[b] == 1),
            }
            for a, va in enumerate(VALUES)
            for b, vb in enumerate(VALUES)
        ]
    )


def _shared_fraction_metric(
    estimate: tuple[float, float, float],
    p: float | None,
    against: str,
    counts: pd.DataFrame,
    n_q: int,
    cfg: MechanismsConfig,
) -> dict[str, Any]:
    """The shared fraction with its CI over queries, p against random planes, and every kind's count."""
    totals = counts.groupby("kind")["count"].sum()
    return metric(
        *estimate,
        p=p,
        n=n_q,
        better=None,
        note=f"share of value neurons (top {cfg.neuron_top_fraction:.0%} of each block by projection on "
        f"the value's shared and difference axes) within {cfg.neuron_angle:g} degrees of the shared axis, "
        f"mean over values; {against} (uniform angles would give "
        f"{shared_fraction_null(cfg.neuron_angle):.2f}); all values: "
        + ", ".join(f"{k} {int(totals.get(k, 0))}" for k in KINDS[1:]),
    )


def _overlap_metric(overlaps: pd.DataFrame) -> dict[str, Any]:
    """Mean Jaccard overlap of two different values' neuron sets, with the min-max over pairs."""
    cross = overlaps.loc[overlaps["value_a"] != overlaps["value_b"], "jaccard"].to_numpy(dtype=float)
    return metric(
        float(np.mean(cross)),
        float(np.min(cross)),
        float(np.max(cross)),
        n=len(VALUES),
        note="mean Jaccard overlap of two different values' neuron sets (interval: min-max over pairs)",
    )
