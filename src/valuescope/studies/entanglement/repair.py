"""The repair step: ablate the moral direction at every read point and rate again, against random
directions of matched projected variance, with every edit's damage."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.edit import controls as ctl
from valuescope.edit.random_directions import matched_random_directions
from valuescope.readout.damage import DamageMeter
from valuescope.stats.metrics import metric
from valuescope.studies.entanglement.directions import diff_of_means, quiet_direction
from valuescope.studies.entanglement.rating_effects import (
    discrimination,
    entanglement_estimate,
    entanglement_index,
)
from valuescope.studies.entanglement.verdicts import repair_verdict
from valuescope.studies.protocol import Artifacts, UnitContext

if TYPE_CHECKING:
    pass
from valuescope.studies.entanglement.config import DOMAINS, LEVEL, config_of, prompt, stimuli_of
from valuescope.studies.entanglement.ratings import item_scores, rate_rows, rating_rows


def _reference_tokens(lm: Any, rp: int) -> np.ndarray:
    """Residuals (tokens, d) of the neutral reference text's own tokens at read point ``rp``."""
    from valuescope.data.reference import reference_texts

    ref = lm.residuals(reference_texts(), layers=[rp], pool="all")
    return ref.values[:, 0][ref.mask].double().numpy()


def repair_step(ctx: UnitContext) -> Artifacts:
    from valuescope.data.reference import reference_texts

    cfg = config_of(ctx)
    lm = ctx.lm
    data = stimuli_of(ctx)
    ratings = ctx.previous["ratings"].tables["ratings"]
    rp = int(ctx.previous["residuals"].data["repair_read_point"])

    moral = data["moral"]
    templated = [prompt("moral", 0, False, t) for t in moral["text"]]
    x = lm.residuals(templated, layers=[rp], pool="last", progress=ctx.progress)[:, 0].double().numpy()
    y = (moral["valence"] == "good").to_numpy()
    reference = _reference_tokens(lm, rp)
    if cfg.moral_direction == "quiet":
        direction = quiet_direction(x, y, reference, cfg.shrinkage)
    else:
        direction = diff_of_means(x, y)
    match = reference if cfg.random_match == "reference" else x
    randoms = matched_random_directions(match, direction, cfg.n_random, ctx.seed)

    held: dict[str, pd.DataFrame] = {}
    for domain in DOMAINS:
        frames = data[domain]["frame"].to_numpy()
        _, report = stats.split_half(frames, seed=ctx.seed)
        held[domain] = data[domain][report].reset_index(drop=True)
    targets = list(range(lm.n_layers + 1))

    def rows_for(kinds: Callable[[str], list[str]]) -> pd.DataFrame:
        return pd.concat([rating_rows(held[d], kinds(d), 1, 0) for d in DOMAINS], ignore_index=True)

    def edit(v: np.ndarray) -> Any:
        return lm.ablate(
            torch.from_numpy(v).float(),
            layers=targets,
            sublayers=cfg.ablate_sublayers,
            center="reference" if cfg.ablation_center == "reference" else None,
            keep_special=cfg.keep_special,
        )

    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts], seed=ctx.seed)
    moral_edit = edit(direction)
    with moral_edit:
        after = rate_rows(lm, rows_for(lambda d: [d, "moral"]), ctx.progress)
    cost = meter(moral_edit)
    random_tables, random_kl = [], []
    for i, r in enumerate(randoms):
        random_edit = edit(r)
        with random_edit:
            random_tables.append(rate_rows(lm, rows_for(lambda d: [d]), ctx.progress).assign(direction=i))
        if i < cfg.n_random_damage:
            random_kl.append(meter(random_edit)["kl_mean"])
    random_all = pd.concat(random_tables, ignore_index=True)

    base = (ratings["paraphrase"] == 0) & ~ratings["reversed"]
    before = ratings[base & ratings["item_id"].isin(pd.concat(held.values())["item_id"])]
    kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
    metrics: dict[str, dict[str, Any]] = {}
    verdicts = []
    comparison = []
    for domain in DOMAINS:
        level, positive = LEVEL[domain]
        b_items = item_scores(before[before["domain"] == domain], domain)
        a_items = item_scores(after[after["domain"] == domain], domain)
        ent_b = entanglement_estimate(b_items, "score", level, **kw)
        ent_a = entanglement_estimate(a_items, "score", level, **kw)
        disc_b = discrimination(b_items, "score", level, positive, **kw)
        disc_a = discrimination(a_items, "score", level, positive, **kw)
        rand = np.array(
            [
                entanglement_index(item_scores(t[t["domain"] == domain], domain), "score", level)
                for _, t in random_all.groupby("direction")
            ]
        )
        level_before = entanglement_index(b_items, "score", level)
        against = ctl.against_controls(
            ent_a.estimate - level_before,
            rand - level_before,
            better="lower" if ent_b.estimate >= 0 else "higher",
            controls=f"{len(rand)} ablations of random directions matched on the moral direction's projected "
            f"variance on {'neutral reference text' if cfg.random_match == 'reference' else 'the items'}",
        )
        verdict = repair_verdict(ent_b, against.beats if against.decided else None, disc_b, disc_a.estimate)
        small = cfg.small_cell(ent_a.n, "held-out frames")
        extra = f"; {small}" if small else ""
        metrics[f"{domain}_entanglement_heldout_before"] = ent_b.as_metric(
            better="lower",
            note=f"held-out frames, paraphrase 1, normal scale (the repair's comparison){extra}",
        )
        metrics[f"{domain}_entanglement_after_repair"] = ent_a.as_metric(
            layer=rp, better="lower", note=f"repair: {verdict}{extra}"
        )
        metrics[f"{domain}_discrimination_after_repair"] = disc_a.as_metric(layer=rp, better="higher")
        metrics[f"random_ablation_{domain}_entanglement"] = against.null_metric(layer=rp)
        s_null = against.summary
        verdicts.append(
            {
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
        )
        for i, v in enumerate(rand):
            comparison.append({"domain": domain, "direction": f"random {i}", "entanglement_after": v})
        comparison.append({"domain": domain, "direction": "moral", "entanglement_after": ent_a.estimate})
    moral_a = discrimination(item_scores(after, "moral"), "score", "valence", "good", **kw)
    moral_b = discrimination(item_scores(before, "moral"), "score", "valence", "good", **kw)
    metrics["moral_discrimination_heldout_before"] = moral_b.as_metric(better="higher")
    metrics["moral_discrimination_after_repair"] = moral_a.as_metric(
        layer=rp, note="the moral rating itself should fall when the moral direction is gone"
    )
    metrics["repair_kl"] = metric(
        cost["kl_mean"],
        cost["kl_ci_low"],
        cost["kl_ci_high"],
        n=int(cost["n_texts"]),
        layer=rp,
        better="lower",
        note=f"KL(base || edited) per token on {int(cost['n_texts'])} neutral reference texts",
    )
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
    metrics["repair_ppl_ratio"] = metric(
        cost["ppl_ratio"],
        cost["ppl_ratio_ci_low"],
        cost["ppl_ratio_ci_high"],
        n=int(cost["n_texts"]),
        layer=rp,
        better="lower",
        note="perplexity edited / base on neutral reference text",
    )
    return Artifacts(
        tables={
            "repair": pd.DataFrame(verdicts),
            "repair_ratings": after,
            "repair_random": pd.DataFrame(comparison),
        },
        tensors={
            "moral_direction": torch.from_numpy(direction).float(),
            "random_directions": torch.from_numpy(randoms).float(),
        },
        metrics=metrics,
    )
