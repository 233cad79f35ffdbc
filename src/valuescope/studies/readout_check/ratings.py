"""The ratings step: every pair rated good-vs-bad under each question paraphrase, and the rating gap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.stats.metrics import metric
from valuescope.studies.protocol import (
    Artifacts,
    UnitContext,
)
from valuescope.studies.readout_check.config import OPTIONS, QUESTIONS, ReadoutCheckConfig, load_pairs
from valuescope.studies.readout_check.outputs import RATINGS


def ratings_step(ctx: UnitContext[ReadoutCheckConfig]) -> Artifacts:
    cfg = ctx.config
    pairs = load_pairs(ctx.data.use(cfg.stimuli) if cfg.stimuli else None, cfg.n_pairs)
    table = rate_pairs(ctx.lm, pairs, cfg.paraphrases, ctx.progress)
    gaps = pair_means(table)
    gap = stats.paired_difference(
        gaps["good"].to_numpy(), gaps["bad"].to_numpy(), n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
    )
    groups = table["pair"].to_numpy()
    mass = table["mass"].to_numpy()
    est, lo, hi = stats.bootstrap(mean_at(mass), len(mass), groups=groups, n_boot=cfg.n_boot, seed=ctx.seed)
    metrics: dict[str, dict[str, Any]] = {
        "rating_gap": gap.as_metric(
            better="higher", note="mean expected rating (1-7) of good minus bad statements, per pair"
        ),
        "option_mass": metric(est, lo, hi, n=len(gaps), note="probability the next token is one of 1-7"),
    }
    if cfg.paraphrases >= 2:
        wide = table.pivot_table(index=["pair", "valence"], columns="paraphrase", values="expected")
        a, b = wide[0].to_numpy(), wide[1].to_numpy()
        pair_ids = np.array([p for p, _ in wide.index])
        r, lo, hi = stats.bootstrap(
            lambda idx: float(np.corrcoef(a[idx], b[idx])[0, 1]),
            len(a),
            groups=pair_ids,
            n_boot=cfg.n_boot,
            seed=ctx.seed,
        )
        metrics["paraphrase_agreement"] = metric(
            r, lo, hi, n=len(gaps), better="higher", note="Pearson r between two question paraphrases"
        )
    return Artifacts(tables={RATINGS.name: table}, metrics=metrics)


def rate_pairs(lm: Any, pairs: pd.DataFrame, paraphrases: int, progress: bool) -> pd.DataFrame:
    rows = []
    for _, pair in pairs.iterrows():
        for valence in ("good", "bad"):
            for k in range(paraphrases):
                rows.append(
                    {"pair": str(pair["pair"]), "valence": valence, "paraphrase": k, "text": pair[valence]}
                )
    frame = pd.DataFrame(rows)
    prompts = [QUESTIONS[k].format(text=t) for k, t in zip(frame["paraphrase"], frame["text"], strict=True)]
    rated = lm.rate(prompts, OPTIONS, progress=progress)
    frame["expected"] = rated["expected"].to_numpy()
    frame["mass"] = rated["mass"].to_numpy()
    return frame


def pair_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean expected rating per pair and valence (paraphrases averaged): columns good, bad."""
    means = table.groupby(["pair", "valence"], sort=False)["expected"].mean().unstack("valence")
    return means[["good", "bad"]]


def mean_at(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """Statistic for the bootstrap: the mean of ``values`` over resampled rows."""
    return lambda idx: float(values[idx].mean())
