"""Benjamini-Hochberg false discovery rate control across layers and values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fdr_bh(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted q-values (monotone in p, capped at 1); NaN entries pass through.

    m is the number of non-NaN p-values.
    """
    pv = np.asarray(p, dtype=float)
    if pv.ndim != 1:
        raise ValueError(f"p must be 1-D, got shape {pv.shape}")
    q = np.full(pv.shape, np.nan)
    ok = ~np.isnan(pv)
    vals = pv[ok]
    if ((vals < 0) | (vals > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    m = len(vals)
    if m == 0:
        return q
    order = np.argsort(vals, kind="stable")
    ranked = vals[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[ok] = out
    return q
