"""Step 2 of ``indifference``: the four diagnostics at every read point (half A chooses the read point,
half B reports it, with jackknife intervals over lemma blocks and a shuffled-label null)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from valuescope.edit.controls import Better
from valuescope.stats.metrics import metric
from valuescope.studies.indifference.config import DIAGNOSTICS, IndifferenceConfig
from valuescope.studies.indifference.geometry_diagnostics import layer_curves
from valuescope.studies.indifference.items import read_items
from valuescope.studies.indifference.jackknife import jackknife_diagnostics
from valuescope.studies.indifference.outputs import ITEMS, READ_POINT
from valuescope.studies.indifference.prototypes import virtue_vice_cosine
from valuescope.studies.indifference.typicality import typicality_by_foundation
from valuescope.studies.protocol import Artifacts, UnitContext

BETTER: dict[str, Better] = {
    "virtue_vice_cosine": "lower",
    "typicality_spearman": "higher",
    "ari_valence": "higher",
    "ari_foundation": "higher",
    "probe_r2": "higher",
}
PUBLISHED = {
    "virtue_vice_cosine": "often above 0.5 in middle layers",
    "typicality_spearman": "peak below 0.55",
    "ari_valence": "about 0.5",
    "ari_foundation": "below 0.15",
    "probe_r2": "best adjusted R² about 0.26",
}
"""Li, Teng & Wang (2026) across 23 models: different ground truth (Social-Chem-101 prototypes) and
full-precision models, so not directly comparable."""


def halves(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    half = items["half"].to_numpy()
    return half == "A", half == "B"


def choose_read_point(curve: pd.DataFrame, by: str) -> int:
    """The read point with the best ``by`` on half A (lowest cosine, else highest); earliest on ties."""
    scores = curve.set_index("layer")[by].astype(float)
    if scores.isna().all():
        raise ValueError(f"{by} is NaN at every read point on half A; the items cannot choose a read point")
    best = scores.idxmin() if BETTER[by] == "lower" else scores.idxmax()
    return int(str(best))


def diagnostics_step(ctx: UnitContext[IndifferenceConfig]) -> Artifacts:
    cfg = ctx.config
    lm = ctx.local
    items = ctx.read(ITEMS)
    layers = list(range(lm.n_layers + 1))
    x = read_items(ctx, items, layers)
    half_a, half_b = halves(items)
    curve_a = layer_curves(x, layers, items, half_a, seed=ctx.seed, n_perm=cfg.n_perm)
    curve_b = layer_curves(x, layers, items, half_b, seed=ctx.seed, n_perm=cfg.n_perm)
    rp = choose_read_point(curve_a, cfg.choose_by)
    estimates = jackknife_diagnostics(x[:, rp], items, half_b, n_blocks=cfg.n_blocks, seed=ctx.seed)
    row_b = curve_b[curve_b["layer"] == rp].iloc[0]
    null_b = {f"{name}_null": float(row_b[f"{name}_null"]) for name in DIAGNOSTICS}
    n_lemmas = int(items.loc[half_b, "lemma"].nunique())
    metrics: dict[str, dict[str, Any]] = {}
    rows = []
    for name in DIAGNOSTICS:
        est = estimates[name]
        null = null_b[f"{name}_null"]
        note = f"half B ({n_lemmas} lemmas) at read point {rp}, chosen on half A by {cfg.choose_by}"
        metrics[name] = metric(
            est.estimate,
            est.ci_low,
            est.ci_high,
            n=est.n,
            layer=rp,
            better=BETTER[name],
            note=f"{note}; shuffled-label null {null:.3f}",
        )
        rows.append(
            {
                "metric": name,
                "estimate": est.estimate,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "shuffled_null": null,
                "layer": rp,
                "n_lemmas": est.n,
                "published": PUBLISHED[name],
            }
        )
    curves = pd.concat([curve_a.assign(half="A"), curve_b.assign(half="B")], ignore_index=True)
    cos = virtue_vice_cosine(x[:, rp], items, half_b).assign(layer=rp)
    typ = typicality_by_foundation(x[:, rp], items, half_a, half_b).assign(layer=rp)
    tables = {
        "diagnostics": pd.DataFrame(rows),
        "layer_curves": curves,
        "foundation_cosines": cos,
        "foundation_typicality": typ,
    }
    nulls = {name: null_b[f"{name}_null"] for name in DIAGNOSTICS}
    return Artifacts(tables=tables, metrics=metrics, data={READ_POINT.name: rp, "nulls": nulls})
