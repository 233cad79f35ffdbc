"""The cross-model unit of ``atlas``: how alike are the models' value geometries?

Each model's 10 x 10 cosines of its value vectors (from its ``agreement`` step) are compared pair by pair
with representational similarity analysis: Spearman of the 45 off-diagonal cosines, a CI from resampling
the values, and a p from shuffling one model's value labels. ``rsa_value_geometry`` is the mean over
model pairs (with two models, their one pair)."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.stats.metrics import ALL_MODELS, metric, missing
from valuescope.studies.atlas.config import AtlasConfig
from valuescope.studies.atlas.outputs import VALUE_GEOMETRY
from valuescope.studies.protocol import Artifacts

VALUES = list(SCHWARTZ_VALUES)


def geometry_matrix(table: pd.DataFrame) -> np.ndarray:
    """The 10 x 10 cosine matrix of a ``value_geometry`` table, in circle order."""
    return table.set_index("value").reindex(index=VALUES, columns=VALUES).to_numpy(dtype=float)


def rsa(a: np.ndarray, b: np.ndarray, values: np.ndarray | None = None) -> float:
    """Spearman of the off-diagonal entries of ``a`` and ``b`` over the pairs of ``values`` (indices, a
    resample may repeat them; pairs of a value with itself are left out)."""
    idx = np.arange(len(a)) if values is None else np.asarray(values)
    i, j = np.triu_indices(len(idx), k=1)
    keep = idx[i] != idx[j]
    x, y = a[idx[i][keep], idx[j][keep]], b[idx[i][keep], idx[j][keep]]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(sps.spearmanr(x, y).statistic)


def compare_geometry(per_model: Mapping[str, Artifacts], config: AtlasConfig, seed: int) -> Artifacts:
    """``rsa_value_geometry`` and the table of model pairs (rho, CI, p)."""
    mats = {
        m: geometry_matrix(a.tables[VALUE_GEOMETRY.name])
        for m, a in per_model.items()
        if m != ALL_MODELS and VALUE_GEOMETRY.name in a.tables
    }
    mats = {m: x for m, x in mats.items() if np.isfinite(x).all()}
    if len(mats) < 2:
        why = "needs two models with value vectors (local models whose mechanisms study ran)"
        return Artifacts(metrics={"rsa_value_geometry": missing(f"not computable: {why}; {len(mats)} here")})
    rng = np.random.default_rng(seed)
    pairs = list(combinations(mats, 2))
    n = len(VALUES)

    def mean_rsa(values: np.ndarray | None = None, perms: dict[str, np.ndarray] | None = None) -> float:
        out = []
        for a, b in pairs:
            mb = mats[b] if perms is None else mats[b][np.ix_(perms[b], perms[b])]
            out.append(rsa(mats[a], mb, values))
        return float(np.nanmean(out)) if np.isfinite(out).any() else float("nan")

    observed = mean_rsa()
    boots = np.array([mean_rsa(rng.integers(0, n, n)) for _ in range(config.n_boot)])
    boots = boots[np.isfinite(boots)]
    null = np.array([mean_rsa(perms={m: rng.permutation(n) for m in mats}) for _ in range(config.n_perm)])
    p = float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))
    lo, hi = np.quantile(boots, [0.025, 0.975]) if len(boots) else (observed, observed)
    rows: list[dict[str, Any]] = [
        {"model_a": a, "model_b": b, "rho": rsa(mats[a], mats[b])} for a, b in pairs
    ]
    note = (
        f"{len(mats)} models, {len(pairs)} pairs; Spearman of the 45 value-vector cosines; CI over values "
        f"({config.n_boot} resamples); p against shuffled value labels ({config.n_perm} draws, null median "
        f"{np.median(null):.3f})"
    )
    entry = metric(observed, min(lo, observed), max(hi, observed), p=p, n=n, note=note)
    return Artifacts(metrics={"rsa_value_geometry": entry}, tables={"rsa_pairs": pd.DataFrame(rows)})
