"""Step 4 of ``indifference``: the geometric repair. Fitted on half A in the span of the moral SAE
features, applied to the model as an intervention, and read on half B beside random edits of equal
effect (displacement of half B's rows), refits to permuted targets, and the damage it does to neutral
text."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope.data.moral_items import VECTOR_COLUMNS
from valuescope.data.reference import reference_texts
from valuescope.edit import controls as ctl
from valuescope.readout.damage import DamageMeter
from valuescope.stats.metrics import metric, missing
from valuescope.studies.indifference import geometric_repair as rep
from valuescope.studies.indifference.config import DIAGNOSTICS
from valuescope.studies.indifference.diagnostic_settings import FAST_SETTINGS
from valuescope.studies.indifference.diagnostics import BETTER, halves
from valuescope.studies.indifference.features import corpus, token_residuals
from valuescope.studies.indifference.geometry_diagnostics import diagnostics
from valuescope.studies.indifference.items import carrier_of, config_of, read_items, reading_items
from valuescope.studies.indifference.jackknife import paired_jackknife
from valuescope.studies.protocol import Artifacts, UnitContext

COMPARED = ("virtue_vice_cosine", "typicality_spearman")
"""Diagnostics whose comparison with the controls is a summary metric (all are in the ``repair`` table)."""
MOVED_TOLERANCE = 1e-4
"""The repair moved nothing when its mean displacement of half B's rows is below this share of their mean
distance from the centre (a fit that stays at the identity, as it must in a rank-1 subspace)."""
MAX_KEEP_TOKENS = 2000
"""Neutral-sentence tokens (half A's SAE corpus) whose subspace coordinates the repair must keep."""


def _p(p: float | None) -> str:
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def _missing_all(note: str) -> dict[str, dict[str, Any]]:
    names = [f"{m}_after_repair" for m in DIAGNOSTICS]
    names += [f"{kind}_{m}" for kind in ("random_edit", "permuted_target") for m in COMPARED]
    return {n: missing(note) for n in [*names, "repair_kl"]}


def _as_edit(lm: Any, fit: rep.Repair, rp: int) -> Any:
    return lm.edit_subspace(
        torch.as_tensor(fit.basis, dtype=torch.float32),
        torch.as_tensor(fit.matrix, dtype=torch.float32),
        layers=[rp],
        center=torch.as_tensor(fit.center, dtype=torch.float32),
    )


def _controls(
    fit: rep.Repair,
    x_b: np.ndarray,
    report_items: pd.DataFrame,
    pool: np.ndarray,
    fit_targets: np.ndarray,
    fit_lemmas: np.ndarray,
    refit: Callable[..., rep.Repair],
    n: int,
    seed: int,
    kl: Callable[[rep.Repair], float],
    nothing: str | None,
    tolerance: float,
) -> tuple[dict[str, dict[str, ctl.ControlResult]], pd.DataFrame]:
    """The repair against its two kinds of control, on half B, scored like the repair (fast settings):

    - ``random_subspace``: the fitted matrix in random subspaces drawn from the residual covariance at the
      read point (``pool``), rescaled to the repair's mean displacement of half B's rows;
    - ``permuted_targets``: refits, to their own optimum, on targets permuted across whole lemmas.

    Not computable (and the controls not built) when the repair moved nothing (``nothing`` says why)."""
    rows_b = np.ones(len(report_items), dtype=bool)

    def score(x_rows: np.ndarray) -> dict[str, float]:
        return diagnostics(x_rows, report_items, rows_b, seed=seed, settings=FAST_SETTINGS)

    effect = rep.displacement(fit, x_b)
    better = {name: BETTER[name] for name in DIAGNOSTICS}
    described = {
        "random_subspace": f"{n} random-subspace edits drawn from the residual covariance, matched on the "
        f"repair's mean displacement of half B's rows ({effect:.3g})",
        "permuted_targets": f"{n} refits to targets permuted across whole lemmas, each at its own optimum",
    }
    if nothing is not None:
        empty = {
            kind: {m: ctl.not_computable(nothing, better=b, controls=d) for m, b in better.items()}
            for kind, d in described.items()
        }
        return empty, pd.DataFrame(columns=["kind", "replicate", "displacement", *DIAGNOSTICS])
    rng = np.random.default_rng(seed)
    edits: dict[str, list[rep.Repair]] = {"random_subspace": [], "permuted_targets": []}
    for r in range(n):
        moved_elsewhere = rep.in_subspace(fit, ctl.covariance_basis(pool, fit.k, rng))
        if rep.displacement(moved_elsewhere, x_b) > 0:
            moved_elsewhere = rep.at_displacement(moved_elsewhere, x_b, effect)
        edits["random_subspace"].append(moved_elsewhere)
        shuffled = ctl.permute_groups(fit_targets, fit_lemmas, rng)
        edits["permuted_targets"].append(refit(targets=shuffled, seed=seed + r + 1))
    base, after = score(x_b), score(fit.apply(x_b))
    results: dict[str, dict[str, ctl.ControlResult]] = {}
    table = []
    for kind, group in edits.items():
        scores = [score(c.apply(x_b)) for c in group]
        effects = [rep.displacement(c, x_b) for c in group]
        matched = kind == "random_subspace"
        results[kind] = ctl.compare_scores(
            base,
            after,
            scores,
            better=better,
            describe=described[kind],
            edit_effect=effect,
            min_effect=tolerance,
            control_effects=effects if matched else None,
        )
        for r, (c, sc, e) in enumerate(zip(group, scores, effects, strict=True)):
            row = {"kind": kind, "replicate": r, "edit_norm": c.norm, "displacement": e, **sc}
            row["kl"] = kl(c) if r < 2 else np.nan
            table.append(row)
    return results, pd.DataFrame(table)


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
    edit = _as_edit(lm, fit, rp)
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
    after, paired = paired_jackknife(
        x_b, x_after_b, report_items, rows_b, n_blocks=cfg.n_blocks, seed=ctx.seed
    )
    before = diagnostics(x_b, report_items, rows_b, seed=ctx.seed)

    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts], seed=ctx.seed)
    real_damage = meter(edit)
    pool = np.concatenate([x[half_a], tokens])
    refit = partial(
        rep.fit_repair,
        x[fit_rows],
        keep=keep,
        basis=basis,
        center=center,
        keep_weight=cfg.keep_weight,
        steps=cfg.repair_steps,
    )
    effect = rep.displacement(fit, x_b)
    tolerance = MOVED_TOLERANCE * float(np.linalg.norm(x_b - fit.center, axis=1).mean())
    nothing = ctl.edit_moved_nothing(effect, min_effect=tolerance, rank=fit.k)
    controls, randoms = _controls(
        fit,
        x_b,
        report_items,
        pool,
        targets[fit_rows],
        items.loc[fit_rows, "lemma"].to_numpy(),
        refit,
        cfg.n_random_edits,
        ctx.seed,
        lambda c: meter(_as_edit(lm, c, rp))["kl_mean"],
        nothing,
        tolerance,
    )

    metrics: dict[str, dict[str, Any]] = {}
    rows = []
    weak = "; on below-threshold SAE features" if features.data.get("fallback_features") else ""
    weak += f"; {nothing}" if nothing else ""
    for name in DIAGNOSTICS:
        est, diff = after[name], paired[name]
        better = BETTER[name]
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
        row: dict[str, Any] = {
            "metric": name,
            "before": before[name],
            "after": est.estimate,
            "after_ci_low": est.ci_low,
            "after_ci_high": est.ci_high,
            "change": diff.estimate,
            "change_ci_low": diff.ci_low,
            "change_ci_high": diff.ci_high,
        }
        for kind, label in (("random_subspace", "random"), ("permuted_targets", "permuted")):
            res = controls[kind][name]
            s = res.summary
            row[f"{label}_low"] = np.nan if s is None else before[name] + s.low
            row[f"{label}_high"] = np.nan if s is None else before[name] + s.high
            row[f"{label}_change_median"] = np.nan if s is None else s.median
            row[f"{label}_p"] = res.p
            row[f"{label}_verdict"] = res.verdict()
        rows.append(row)
    for name in COMPARED:
        metrics[f"random_edit_{name}"] = controls["random_subspace"][name].null_metric(layer=rp)
        metrics[f"permuted_target_{name}"] = controls["permuted_targets"][name].null_metric(layer=rp)
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
                "displacement": effect,
                "moved_tolerance": tolerance,
                "controls": nothing or "compared",
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
