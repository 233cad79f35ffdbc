"""Step 4 of ``indifference``: the geometric repair. Fitted on half A in the span of the moral SAE
features, applied to the model as an intervention, and read on half B beside random edits of equal
norm and the damage it does to neutral text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope.analysis import indifference as ind
from valuescope.analysis import repair as rep
from valuescope.language_model import reference_texts
from valuescope.readout.damage import DamageMeter
from valuescope.stimuli.moral_items import VECTOR_COLUMNS
from valuescope.studies.indifference.config import DIAGNOSTICS
from valuescope.studies.indifference.diagnostics import BETTER, halves
from valuescope.studies.indifference.features import corpus, token_residuals
from valuescope.studies.indifference.items import carrier_of, config_of, read_items, reading_items
from valuescope.studies.metrics import metric, missing
from valuescope.studies.protocol import Artifacts, UnitContext

RANDOM_KINDS = ("random_subspace", "permuted_targets")
MAX_KEEP_TOKENS = 2000
"""Neutral-sentence tokens (half A's SAE corpus) whose subspace coordinates the repair must keep."""


def permuted(targets: np.ndarray, lemmas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Targets shuffled across whole lemmas (a lemma's items move together)."""
    names, codes = np.unique(lemmas, return_inverse=True)
    first = np.array([np.flatnonzero(codes == g)[0] for g in range(len(names))])
    order = rng.permutation(len(names))
    return targets[first[order]][codes]


def _p(p: float | None) -> str:
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def _missing_all(note: str) -> dict[str, dict[str, Any]]:
    names = [f"{m}_after_repair" for m in DIAGNOSTICS]
    names += ["random_edit_virtue_vice_cosine", "random_edit_typicality_spearman", "repair_kl"]
    return {n: missing(note) for n in names}


def repair_step(ctx: UnitContext) -> Artifacts:
    cfg = config_of(ctx)
    lm = ctx.lm
    items = ctx.previous["items"].tables["items"]
    features = ctx.previous["sae"]
    rp = int(features.data["sae_read_point"])
    directions = features.tensors["moral_directions"].double().numpy()
    if len(directions) == 0:
        return Artifacts(metrics=_missing_all("no moral SAE features on half A, so nothing to repair"))
    x = read_items(ctx, items, [rp])[:, 0]
    half_a, half_b = halves(items)
    moral = items["kind"].to_numpy() != "neutral"
    neutral_a = half_a & ~moral
    center = x[neutral_a].mean(0)
    targets = items[list(VECTOR_COLUMNS)].to_numpy(dtype=np.float64)
    basis = rep.subspace_basis(directions)
    fit_rows = half_a & moral
    rng = np.random.default_rng(ctx.seed)
    sentences = corpus(ctx, items)[1]
    tokens = token_residuals(lm, sentences, rp, 8).double().numpy()
    if len(tokens) > MAX_KEEP_TOKENS:
        tokens = tokens[rng.choice(len(tokens), MAX_KEEP_TOKENS, replace=False)]
    keep = np.concatenate([x[neutral_a], tokens])
    fit = rep.fit_repair(
        x[fit_rows],
        targets[fit_rows],
        keep,
        basis,
        center,
        keep_weight=cfg.keep_weight,
        steps=cfg.repair_steps,
        seed=ctx.seed,
    )
    edit = lm.edit_subspace(
        torch.as_tensor(fit.basis, dtype=torch.float32),
        torch.as_tensor(fit.matrix, dtype=torch.float32),
        layers=[rp],
        center=torch.as_tensor(fit.center, dtype=torch.float32),
    )
    report_items = items[half_b].reset_index(drop=True)
    with edit:
        x_after_b = (
            lm.residuals(
                reading_items(carrier_of(cfg, items), report_items["text"]), layers=[rp], pool=cfg.pool
            )[:, 0]
            .double()
            .numpy()
        )
    # Read through the model, the edit must equal the fitted map, except on items whose pooled tokens
    # include special tokens (an unknown-token id, say), which the edit leaves alone by design.
    scale = np.abs(x[half_b]).max() or 1.0
    gaps = np.abs(x_after_b - fit.apply(x[half_b])).max(axis=1) / scale
    differ = int((gaps > 1e-3).sum())
    if differ > 0.1 * len(gaps):
        raise RuntimeError(
            f"the repair read through the model differs from the fitted map on {differ} of {len(gaps)} items "
            f"(largest gap {gaps.max():.2e})"
        )
    x_b = x[half_b]
    rows_b = np.ones(len(report_items), dtype=bool)
    after, paired = ind.paired_jackknife(
        x_b, x_after_b, report_items, rows_b, n_blocks=cfg.n_blocks, seed=ctx.seed
    )
    before = ind.diagnostics(x_b, report_items, rows_b, seed=ctx.seed)

    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts], seed=ctx.seed)
    real_damage = meter(edit)
    random_rows = []
    lemmas_a = items.loc[fit_rows, "lemma"].to_numpy()
    for kind in RANDOM_KINDS:
        for r in range(cfg.n_random_edits):
            if kind == "random_subspace":
                control = rep.on_random_subspace(fit, rng)
            else:
                shuffled = permuted(targets[fit_rows], lemmas_a, rng)
                refit = rep.fit_repair(
                    x[fit_rows],
                    shuffled,
                    keep,
                    basis,
                    center,
                    keep_weight=cfg.keep_weight,
                    steps=cfg.repair_steps,
                    seed=ctx.seed + r + 1,
                )
                control = rep.at_norm(refit, fit.norm)
            scores = ind.diagnostics(
                control.apply(x_b), report_items, rows_b, seed=ctx.seed, settings=ind.FAST_SETTINGS
            )
            row: dict[str, Any] = {"kind": kind, "replicate": r, "edit_norm": control.norm, **scores}
            if r < 2:
                applied = lm.edit_subspace(
                    torch.as_tensor(control.basis, dtype=torch.float32),
                    torch.as_tensor(control.matrix, dtype=torch.float32),
                    layers=[rp],
                    center=torch.as_tensor(control.center, dtype=torch.float32),
                )
                row["kl"] = meter(applied)["kl_mean"]
            random_rows.append(row)
    randoms = pd.DataFrame(random_rows)

    metrics: dict[str, dict[str, Any]] = {}
    rows = []
    weak = "; on below-threshold SAE features" if features.data.get("fallback_features") else ""
    for name in DIAGNOSTICS:
        est, diff = after[name], paired[name]
        better = BETTER[name]
        spread = randoms[name].to_numpy(dtype=float)
        improved = diff.ci_high < 0 if better == "lower" else diff.ci_low > 0
        worse = diff.ci_low > 0 if better == "lower" else diff.ci_high < 0
        verdict = "an improvement" if improved else "worse" if worse else "no clear change"
        metrics[f"{name}_after_repair"] = metric(
            est.estimate,
            est.ci_low,
            est.ci_high,
            p=diff.p,
            n=est.n,
            layer=rp,
            better=better,
            note=f"half B; change {diff.estimate:+.3f} [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}] "
            f"(paired jackknife over lemma blocks, {_p(diff.p)}): {verdict}{weak}",
        )
        rows.append(
            {
                "metric": name,
                "before": before[name],
                "after": est.estimate,
                "after_ci_low": est.ci_low,
                "after_ci_high": est.ci_high,
                "change": diff.estimate,
                "change_ci_low": diff.ci_low,
                "change_ci_high": diff.ci_high,
                "random_mean": float(np.nanmean(spread)),
                "random_low": float(np.nanquantile(spread, 0.025)),
                "random_high": float(np.nanquantile(spread, 0.975)),
            }
        )
    for name in ("virtue_vice_cosine", "typicality_spearman"):
        spread = randoms[name].to_numpy(dtype=float)
        real = after[name].estimate
        as_good = spread <= real if BETTER[name] == "lower" else spread >= real
        metrics[f"random_edit_{name}"] = metric(
            float(np.nanmean(spread)),
            float(np.nanquantile(spread, 0.025)),
            float(np.nanquantile(spread, 0.975)),
            p=float((1 + as_good.sum()) / (1 + len(spread))),
            n=len(spread),
            layer=rp,
            note=f"{cfg.n_random_edits} random-subspace and {cfg.n_random_edits} permuted-target edits of "
            f"norm {fit.norm:.3f}; p: share at least as good as the repair",
        )
    metrics["repair_kl"] = metric(
        real_damage["kl_mean"],
        real_damage["kl_ci_low"],
        real_damage["kl_ci_high"],
        n=int(real_damage["n_texts"]),
        layer=rp,
        better="lower",
        note=f"perplexity ratio {real_damage['ppl_ratio']:.3f} on {int(real_damage['n_texts'])} neutral "
        "texts",
    )
    summary = pd.DataFrame(
        [
            {
                "read_point": rp,
                "subspace_dim": fit.k,
                "edit_norm": fit.norm,
                "structure_before": fit.structure_before,
                "structure_after": fit.structure_after,
                "keep_change": fit.keep_change,
                "keep_rows": len(keep),
                "items_with_untouched_special_tokens": differ,
                **{f"damage_{k}": v for k, v in real_damage.items()},
            }
        ]
    )
    tensors = {
        "repair_basis": torch.as_tensor(fit.basis, dtype=torch.float32),
        "repair_matrix": torch.as_tensor(fit.matrix, dtype=torch.float32),
        "repair_center": torch.as_tensor(fit.center, dtype=torch.float32),
    }
    tables = {"repair": pd.DataFrame(rows), "repair_fit": summary, "random_edits": randoms}
    return Artifacts(tables=tables, tensors=tensors, metrics=metrics, data={"repair_read_point": rp})
