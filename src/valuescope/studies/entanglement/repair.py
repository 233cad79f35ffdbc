"""The repair step: ablate the moral direction at every read point and rate again, against random
directions of matched projected variance, with every edit's damage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.data.reference import reference_texts
from valuescope.edit import controls as ctl
from valuescope.edit.random_directions import matched_random_directions
from valuescope.readout.damage import DamageMeter, kl_metric, ppl_ratio_metric
from valuescope.stats import Estimate
from valuescope.stats.metrics import metric
from valuescope.studies.entanglement.config import DOMAINS, LEVEL, EntanglementConfig, prompt, stimuli_of
from valuescope.studies.entanglement.directions import diff_of_means, quiet_direction
from valuescope.studies.entanglement.outputs import RATINGS, REPAIR_READ_POINT
from valuescope.studies.entanglement.rating_effects import (
    discrimination,
    entanglement_estimate,
    entanglement_index,
)
from valuescope.studies.entanglement.ratings import item_scores, rate_rows, rating_rows
from valuescope.studies.entanglement.verdicts import Verdict, repair_verdict
from valuescope.studies.protocol import Artifacts, UnitContext

if TYPE_CHECKING:
    from valuescope.edit.projections import Ablate
    from valuescope.language_model import LanguageModel

Metrics = dict[str, dict[str, Any]]


def repair_step(ctx: UnitContext[EntanglementConfig]) -> Artifacts:
    """Fit the moral direction on the moral-only items at the repair read point, ablate it at every read
    point and rate the held-out frames again; set each domain's entanglement after the repair against
    ablations of matched random directions, with the damage of the edits on neutral text."""
    cfg, lm = ctx.config, ctx.local
    data = stimuli_of(ctx)
    rp = ctx.read(REPAIR_READ_POINT)
    x, good = moral_residuals(lm, data["moral"], rp, ctx.progress)
    reference = lm.reference_tokens(rp)
    direction = fit_moral_direction(cfg, x, good, reference)
    match = reference if cfg.random_match == "reference" else x
    randoms = matched_random_directions(match, direction, cfg.n_random, ctx.seed)
    held = held_out_items(data, ctx.seed)
    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts], seed=ctx.seed)
    after, cost = rate_under_repair(lm, cfg, direction, held, meter, ctx.progress)
    random_all, random_kl = rate_under_random_ablations(lm, cfg, randoms, held, meter, ctx.progress)

    before = held_out_ratings_before(ctx.read(RATINGS), held)
    kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
    domains = [domain_repair(d, before, after, random_all, cfg, rp, kw) for d in DOMAINS]
    metrics: Metrics = {}
    for one in domains:
        metrics.update(one.metrics)
    metrics.update(moral_discrimination_metrics(before, after, rp, kw))
    metrics.update(damage_metrics(cost, random_kl, rp))
    return Artifacts(
        tables={
            "repair": pd.DataFrame([one.verdict for one in domains]),
            "repair_ratings": after,
            "repair_random": pd.DataFrame([row for one in domains for row in one.comparison]),
        },
        tensors={
            "moral_direction": torch.from_numpy(direction).float(),
            "random_directions": torch.from_numpy(randoms).float(),
        },
        metrics=metrics,
    )


# ----------------------------------------------------------------------------------------------------------
# the edit and its controls


def moral_residuals(
    lm: LanguageModel, moral: pd.DataFrame, rp: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Last-token residuals (items, d) of the moral items under the moral rating prompt at read point
    ``rp``, and whether each item is morally good."""
    templated = [prompt("moral", 0, False, t) for t in moral["text"]]
    x = lm.residuals(templated, layers=[rp], pool="last", progress=progress)[:, 0].double().numpy()
    return x, (moral["valence"] == "good").to_numpy()


def fit_moral_direction(
    cfg: EntanglementConfig, x: np.ndarray, good: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """The good-minus-bad moral direction, ``quiet`` on the neutral reference tokens or a plain difference of
    means, as the config says."""
    if cfg.moral_direction == "quiet":
        return quiet_direction(x, good, reference, cfg.shrinkage)
    return diff_of_means(x, good)


def held_out_items(data: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """Per domain, the items of the report half of its frames (the repair is judged on them only)."""
    held: dict[str, pd.DataFrame] = {}
    for domain in DOMAINS:
        _, report = stats.split_half(data[domain]["frame"].to_numpy(), seed=seed)
        held[domain] = data[domain][report].reset_index(drop=True)
    return held


def held_out_rows(held: dict[str, pd.DataFrame], also: list[str]) -> pd.DataFrame:
    """Rating rows of the held-out items on their own domain's scale and on the ``also`` scales (first
    paraphrase, normal scale)."""
    return pd.concat([rating_rows(held[d], [d, *also], 1, 0) for d in DOMAINS], ignore_index=True)


def ablation(lm: LanguageModel, cfg: EntanglementConfig, v: np.ndarray) -> Ablate:
    """The repair's edit: ``v`` ablated at every read point, with the config's sublayers, centre and
    special-token rule (random controls get the same edit)."""
    return lm.ablate(
        torch.from_numpy(v).float(),
        layers=list(range(lm.n_layers + 1)),
        sublayers=cfg.ablate_sublayers,
        center="reference" if cfg.ablation_center == "reference" else None,
        keep_special=cfg.keep_special,
    )


def rate_under_repair(
    lm: LanguageModel,
    cfg: EntanglementConfig,
    direction: np.ndarray,
    held: dict[str, pd.DataFrame],
    meter: DamageMeter,
    progress: bool,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The held-out items rated on their domain's scale and on the moral one with the moral direction
    ablated, and the damage of that edit."""
    edit = ablation(lm, cfg, direction)
    with edit:
        after = rate_rows(lm, held_out_rows(held, ["moral"]), progress)
    return after, meter(edit)


def rate_under_random_ablations(
    lm: LanguageModel,
    cfg: EntanglementConfig,
    randoms: np.ndarray,
    held: dict[str, pd.DataFrame],
    meter: DamageMeter,
    progress: bool,
) -> tuple[pd.DataFrame, list[float]]:
    """The held-out items rated on their domain's scale under each random ablation (column ``direction``),
    and the KL of the first ``n_random_damage`` of those edits."""
    rows = held_out_rows(held, [])
    tables, kl = [], []
    for i, r in enumerate(randoms):
        edit = ablation(lm, cfg, r)
        with edit:
            tables.append(rate_rows(lm, rows, progress, mass=False).assign(direction=i))
        if i < cfg.n_random_damage:
            kl.append(meter(edit)["kl_mean"])
    return pd.concat(tables, ignore_index=True), kl


# ----------------------------------------------------------------------------------------------------------
# the repair's tables and metrics


def held_out_ratings_before(ratings: pd.DataFrame, held: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The ratings step's rows of the held-out items under the same prompt as the repair (first paraphrase,
    normal scale)."""
    base = (ratings["paraphrase"] == 0) & ~ratings["reversed"]
    return ratings[base & ratings["item_id"].isin(pd.concat(held.values())["item_id"])]


@dataclass(frozen=True)
class DomainRepair:
    """One domain's repair: its metrics, its row of the ``repair`` table and its rows of ``repair_random``."""

    metrics: Metrics
    verdict: dict[str, Any]
    comparison: list[dict[str, Any]]


def random_entanglements(random_all: pd.DataFrame, domain: str) -> np.ndarray:
    """The domain's entanglement index under each random ablation."""
    level = LEVEL[domain][0]
    return np.array(
        [
            entanglement_index(item_scores(t[t["domain"] == domain], domain), "score", level)
            for _, t in random_all.groupby("direction")
        ]
    )


def domain_repair(
    domain: str,
    before: pd.DataFrame,
    after: pd.DataFrame,
    random_all: pd.DataFrame,
    cfg: EntanglementConfig,
    rp: int,
    kw: dict[str, Any],
) -> DomainRepair:
    """Entanglement and discrimination of ``domain`` before and after the repair, the change in
    entanglement against the random ablations' changes, and the verdict."""
    level, positive = LEVEL[domain]
    b_items = item_scores(before[before["domain"] == domain], domain)
    a_items = item_scores(after[after["domain"] == domain], domain)
    ent_b = entanglement_estimate(b_items, "score", level, **kw)
    ent_a = entanglement_estimate(a_items, "score", level, **kw)
    disc_b = discrimination(b_items, "score", level, positive, **kw)
    disc_a = discrimination(a_items, "score", level, positive, **kw)
    rand = random_entanglements(random_all, domain)
    level_before = entanglement_index(b_items, "score", level)
    against = ctl.against_controls(
        ent_a.estimate - level_before,
        rand - level_before,
        better="lower" if ent_b.estimate >= 0 else "higher",
        controls=f"{len(rand)} ablations of random directions matched on the moral direction's projected "
        f"variance on {'neutral reference text' if cfg.random_match == 'reference' else 'the items'}",
    )
    verdict = repair_verdict(ent_b, against.beats if against.decided else None, disc_b, disc_a.estimate)
    comparison = [
        {"domain": domain, "direction": f"random {i}", "entanglement_after": v} for i, v in enumerate(rand)
    ]
    comparison.append({"domain": domain, "direction": "moral", "entanglement_after": ent_a.estimate})
    return DomainRepair(
        metrics=domain_metrics(domain, ent_b, ent_a, disc_a, against, verdict, cfg, rp),
        verdict=verdict_row(domain, verdict, ent_b, ent_a, against, level_before),
        comparison=comparison,
    )


def domain_metrics(
    domain: str,
    ent_b: Estimate,
    ent_a: Estimate,
    disc_a: Estimate,
    against: ctl.ControlResult,
    verdict: Verdict,
    cfg: EntanglementConfig,
    rp: int,
) -> Metrics:
    """The domain's held-out entanglement before and after the repair, its discrimination after, and the
    random ablations as a null."""
    small = cfg.small_cell(ent_a.n, "held-out frames")
    extra = f"; {small}" if small else ""
    return {
        f"{domain}_entanglement_heldout_before": ent_b.as_metric(
            better="lower",
            note=f"held-out frames, paraphrase 1, normal scale (the repair's comparison){extra}",
        ),
        f"{domain}_entanglement_after_repair": ent_a.as_metric(
            layer=rp, better="lower", note=f"repair: {verdict}{extra}"
        ),
        f"{domain}_discrimination_after_repair": disc_a.as_metric(layer=rp, better="higher"),
        f"random_ablation_{domain}_entanglement": against.null_metric(layer=rp),
    }


def verdict_row(
    domain: str,
    verdict: Verdict,
    ent_b: Estimate,
    ent_a: Estimate,
    against: ctl.ControlResult,
    level_before: float,
) -> dict[str, Any]:
    """The domain's row of the ``repair`` table: verdict, entanglement before and after, and the random
    ablations' entanglement (median and 95% range, back on the index's scale) with the rank p."""
    s_null = against.summary
    return {
        "domain": domain,
        "verdict": verdict,
        "before": ent_b.estimate,
        "after": ent_a.estimate,
        "random_median": np.nan if s_null is None else level_before + s_null.median,
        "random_low": np.nan if s_null is None else level_before + s_null.low,
        "random_high": np.nan if s_null is None else level_before + s_null.high,
        "rank_p": against.p,
        "controls": against.verdict(),
    }


def moral_discrimination_metrics(
    before: pd.DataFrame, after: pd.DataFrame, rp: int, kw: dict[str, Any]
) -> Metrics:
    """The moral rating's own discrimination on the held-out items before and after the repair."""
    moral_a = discrimination(item_scores(after, "moral"), "score", "valence", "good", **kw)
    moral_b = discrimination(item_scores(before, "moral"), "score", "valence", "good", **kw)
    return {
        "moral_discrimination_heldout_before": moral_b.as_metric(better="higher"),
        "moral_discrimination_after_repair": moral_a.as_metric(
            layer=rp, note="the moral rating itself should fall when the moral direction is gone"
        ),
    }


def damage_metrics(cost: dict[str, float], random_kl: list[float], rp: int) -> Metrics:
    """The repair's KL and perplexity ratio on neutral text, and the KL of the random ablations measured."""
    n_texts = int(cost["n_texts"])
    metrics: Metrics = {
        "repair_kl": kl_metric(
            cost, layer=rp, note=f"KL(base || edited) per token on {n_texts} neutral reference texts"
        )
    }
    if random_kl:
        metrics["random_ablation_kl"] = metric(
            float(np.median(random_kl)),
            float(np.min(random_kl)),
            float(np.max(random_kl)),
            n=len(random_kl),
            layer=rp,
            better="lower",
            note=f"median KL of {len(random_kl)} of the random ablations (interval: their range); a random "
            "edit much more damaging than the repair would make the control unfair",
        )
    metrics["repair_ppl_ratio"] = ppl_ratio_metric(
        cost, layer=rp, note="perplexity edited / base on neutral reference text"
    )
    return metrics
