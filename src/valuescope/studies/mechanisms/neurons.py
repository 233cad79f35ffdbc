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
from valuescope.studies.mechanisms.neuron_geometry import (
    neuron_kinds,
    random_plane_shared_fraction,
    shared_fraction_null,
)
from valuescope.studies.mechanisms.responses import config_of
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


def neurons_step(ctx: UnitContext) -> Artifacts:
    cfg = config_of(ctx)
    lm = ctx.lm
    r = read_responses(ctx)
    writes = [lm.neuron_write_directions(b).double().numpy() for b in range(lm.n_layers)]
    every = np.arange(len(r.queries))

    def codes_for(idx: np.ndarray) -> list[np.ndarray]:
        """Per block (10, n_neurons) codes; an all-zero row for a value unfit on these rows."""
        out = []
        for b, w in enumerate(writes):
            shared, difference = _axes(r, b + 1, idx)
            ok = ~np.isnan(shared).any(1)
            block = np.zeros((len(VALUES), w.shape[0]), dtype=np.int8)
            if ok.any():
                block[ok] = neuron_kinds(
                    w, shared[ok], difference[ok], cfg.neuron_top_fraction, cfg.neuron_angle
                )
            out.append(block)
        return out

    codes = codes_for(every)

    def stat(idx: np.ndarray) -> float:
        return _shared_fraction(codes_for(idx))

    est, lo, hi = stats.bootstrap(
        stat, len(every), groups=r.queries, n_boot=max(50, cfg.n_boot // 5), seed=ctx.seed
    )
    # a random plane per value and block, as many values as the real fraction averages over, its axes drawn
    # from the covariance of the responses' residuals at the block's output (not isotropic)
    n_null = max(ctl.draws_needed(), cfg.n_perm // 10)
    per_block = [
        random_plane_shared_fraction(
            w, cfg.neuron_top_fraction, cfg.neuron_angle, n_null * len(VALUES), seed=ctx.seed + b,
            draw=partial(_from_covariance, r.x[:, b + 1]),
        )
        for b, w in enumerate(writes)
    ]  # fmt: skip
    null = np.mean(per_block, axis=0).reshape(n_null, len(VALUES)).mean(axis=1)
    spread = stats.summarize_null(null)
    if not np.isfinite(est) or spread.high - spread.low <= 0:
        p, against = None, f"random planes {spread.describe(2)}: no spread, so no p"
    else:
        p = stats.tie_p(est, null, alternative="greater")
        against = f"random planes from the residual covariance: {spread.describe(2)}; p against them"
    counts = []
    for b, block_codes in enumerate(codes):
        for v, value in enumerate(VALUES):
            for code, kind in enumerate(KINDS[1:], start=1):
                counts.append(
                    {"block": b, "value": value, "kind": kind, "count": int((block_codes[v] == code).sum())}
                )
    all_codes = np.stack(codes, axis=1)  # (V, blocks, n)
    overlaps: list[dict[str, Any]] = []
    for a, va in enumerate(VALUES):
        for b, vb in enumerate(VALUES):
            sa, sb = all_codes[a] > 0, all_codes[b] > 0
            overlaps.append(
                {
                    "value_a": va,
                    "value_b": vb,
                    "jaccard": float((sa & sb).sum() / max(1, (sa | sb).sum())),
                    "shared_jaccard": float(
                        ((all_codes[a] == 1) & (all_codes[b] == 1)).sum()
                        / max(1, ((all_codes[a] == 1) | (all_codes[b] == 1)).sum())
                    ),
                }
            )
    cross = np.array([float(o["jaccard"]) for o in overlaps if o["value_a"] != o["value_b"]])
    count_table = pd.DataFrame(counts)
    totals = count_table.groupby("kind")["count"].sum()
    metrics: dict[str, dict[str, Any]] = {
        "value_neurons_shared_fraction": metric(
            est,
            lo,
            hi,
            p=p,
            n=len(np.unique(r.queries)),
            better=None,
            note=f"share of value neurons (top {cfg.neuron_top_fraction:.0%} of each block by projection on "
            f"the value's shared and difference axes) within {cfg.neuron_angle:g} degrees of the "
            "shared axis, "
            f"mean over values; {against} (uniform angles would give "
            f"{shared_fraction_null(cfg.neuron_angle):.2f}); all values: "
            + ", ".join(f"{k} {int(totals.get(k, 0))}" for k in KINDS[1:]),
        ),
        "value_neurons_overlap": metric(
            float(np.mean(cross)),
            float(np.min(cross)),
            float(np.max(cross)),
            n=len(VALUES),
            note="mean Jaccard overlap of two different values' neuron sets (interval: min-max over pairs)",
        ),
    }
    return Artifacts(
        tables={"neuron_counts": count_table, "neuron_overlap": pd.DataFrame(overlaps)},
        tensors={"value_neurons": torch.from_numpy(all_codes)},
        metrics=metrics,
    )
