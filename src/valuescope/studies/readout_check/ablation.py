"""The ablation step: ablate the direction and rate the held-out pairs again, against ablations of random
directions matched on projected variance, with the edit's damage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.data.reference import reference_texts
from valuescope.edit import controls as ctl
from valuescope.edit.random_directions import matched_random_directions
from valuescope.readout.damage import kl_metric, ppl_ratio_metric
from valuescope.studies.protocol import (
    Artifacts,
    UnitContext,
)
from valuescope.studies.readout_check.config import Metrics, ReadoutCheckConfig
from valuescope.studies.readout_check.outputs import DIRECTION, LAYER, RATINGS, REPORT_PAIRS
from valuescope.studies.readout_check.ratings import pair_means, rate_pairs


def ablation_step(ctx: UnitContext[ReadoutCheckConfig]) -> Artifacts:
    """Ablate the direction at its read point and every later one, rate the held-out pairs again, and set
    the change of their rating gap against the same change under ablations of random directions matched on
    projected variance on neutral text; with the edit's damage on that text."""
    cfg, lm = ctx.config, ctx.local
    layer, direction = ctx.read(LAYER), ctx.read(DIRECTION)
    before, pairs = _held_out(ctx.read(RATINGS), set(ctx.read(REPORT_PAIRS)))
    targets = list(range(layer, lm.n_layers + 1))
    edit = lm.ablate(direction, layers=targets)
    with edit:
        after = rate_pairs(lm, pairs, cfg.paraphrases, ctx.progress)
    cost = lm.damage(edit, texts=reference_texts()[: cfg.damage_texts])
    reference = lm.reference_tokens(layer)
    randoms = matched_random_directions(reference, direction.double().numpy(), cfg.n_random, ctx.seed)
    random_after = []
    for r in randoms:
        with lm.ablate(torch.from_numpy(r).float(), layers=targets):
            random_after.append(rate_pairs(lm, pairs, cfg.paraphrases, ctx.progress)["expected"].to_numpy())
    kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
    metrics = _rating_gap_metrics(before, after, random_after, layer, kw)
    metrics.update(_damage_metrics(cost, layer, cfg.damage_texts))
    table = _ablation_table(before, after, random_after)
    return Artifacts(tables={"ablation": table}, metrics=metrics, data={"n": len(pairs)})


def _held_out(ratings: pd.DataFrame, report: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ratings step's rows of the held-out pairs (``pair`` as text), and those statement pairs
    (``pair``, ``good``, ``bad``) in the same order."""
    before = ratings[ratings["pair"].astype(str).isin(report)].reset_index(drop=True)
    before["pair"] = before["pair"].astype(str)
    pairs = before.drop_duplicates("pair")[["pair"]].copy()
    texts = before[before["paraphrase"] == 0].pivot(index="pair", columns="valence", values="text")
    texts = texts.loc[pairs["pair"]]
    return before, pairs.assign(good=texts["good"].to_numpy(), bad=texts["bad"].to_numpy())


def _pair_gaps(ratings: pd.DataFrame, order: pd.Index) -> np.ndarray:
    """Each pair's rating gap (good minus bad, paraphrases averaged), pairs in ``order``."""
    means = pair_means(ratings)
    return (means["good"] - means["bad"]).loc[order].to_numpy()


def _rating_gap_metrics(
    before: pd.DataFrame, after: pd.DataFrame, random_after: list[np.ndarray], layer: int, kw: dict[str, Any]
) -> Metrics:
    """The held-out pairs' rating gap under the ablation, its change (after minus before, paired by pair),
    and that change against the changes under the random ablations (their expected ratings in ``after``'s
    row order), every version scored by the one mean gap."""
    order = pair_means(before).index

    def mean_gap(ratings: pd.DataFrame) -> dict[str, float]:
        return {"rating_gap": float(_pair_gaps(ratings, order).mean())}

    vs_random = ctl.score_against_controls(
        mean_gap, before, after, [after.assign(expected=e) for e in random_after],
        better={"rating_gap": "lower"},
        describe=f"{len(random_after)} ablations of random directions matched on the direction's projected "
        "variance on neutral reference text, at the same read points",
    )["rating_gap"]  # fmt: skip
    change = stats.paired_difference(_pair_gaps(after, order), _pair_gaps(before, order), **kw)
    g_after = pair_means(after)
    after_gap = stats.paired_difference(g_after["good"].to_numpy(), g_after["bad"].to_numpy(), **kw)
    return {
        "rating_gap_after_ablation": after_gap.as_metric(
            layer=layer, note="held-out pairs, edit at read points >= layer"
        ),
        "ablation_gap_change": change.as_metric(layer=layer, note="gap after minus before, held-out pairs"),
        "ablation_gap_change_vs_random": vs_random.excess_metric(layer=layer),
    }


def _damage_metrics(cost: dict[str, float], layer: int, damage_texts: int) -> Metrics:
    """The edit's KL and perplexity ratio on the neutral reference text."""
    note = f"KL(base || edited) per token on {damage_texts} neutral texts"
    return {
        "ablation_kl": kl_metric(cost, layer=layer, note=note),
        "ablation_ppl_ratio": ppl_ratio_metric(
            cost, layer=layer, note="perplexity edited / base on neutral reference text"
        ),
    }


def _ablation_table(before: pd.DataFrame, after: pd.DataFrame, random: list[np.ndarray]) -> pd.DataFrame:
    """The held-out ratings under the ablation, their mean under the random ablations, and before it."""
    table = after.rename(columns={"expected": "expected_after", "mass": "mass_after"})
    table["expected_random"] = np.mean(random, axis=0) if random else np.nan
    keys = ["pair", "valence", "paraphrase"]
    earlier = before[[*keys, "expected"]].rename(columns={"expected": "expected_before"})
    return table.merge(earlier, on=keys, how="left", validate="one_to_one")
