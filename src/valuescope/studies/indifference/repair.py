"""Step 4 of ``indifference``: the geometric repair. Fitted on half A in the span of the moral SAE
features, applied to the model as an intervention, and read on half B beside random edits of equal
effect (displacement of half B's rows), refits to permuted targets, and the damage it does to neutral
text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from valuescope.data.moral_items import VECTOR_COLUMNS
from valuescope.data.reference import reference_texts
from valuescope.edit import controls as ctl
from valuescope.readout.damage import DamageMeter, kl_metric
from valuescope.stats import Estimate
from valuescope.stats.metrics import metric, missing
from valuescope.studies.indifference import geometric_repair as rep
from valuescope.studies.indifference.config import DIAGNOSTICS, IndifferenceConfig
from valuescope.studies.indifference.diagnostic_settings import FAST_SETTINGS
from valuescope.studies.indifference.diagnostics import BETTER, halves
from valuescope.studies.indifference.features import corpus, token_residuals
from valuescope.studies.indifference.geometry_diagnostics import diagnostics
from valuescope.studies.indifference.items import carrier_of, read_items, reading_items
from valuescope.studies.indifference.jackknife import paired_jackknife
from valuescope.studies.indifference.outputs import (
    FALLBACK_FEATURES,
    ITEMS,
    MORAL_DIRECTIONS,
    REPAIR_BASIS,
    REPAIR_CENTER,
    REPAIR_MATRIX,
    REPAIR_READ_POINT,
    SAE_READ_POINT,
)
from valuescope.studies.protocol import Artifacts, UnitContext

if TYPE_CHECKING:
    from valuescope.edit.projections import EditSubspace
    from valuescope.language_model import LanguageModel

COMPARED = ("virtue_vice_cosine", "typicality_spearman")
"""Diagnostics whose comparison with the controls is a summary metric (all are in the ``repair`` table)."""
MOVED_TOLERANCE = 1e-4
"""The repair moved nothing when its mean displacement of half B's rows is below this share of their mean
distance from the centre (a fit that stays at the identity, as it must in a rank-1 subspace)."""
MAX_KEEP_TOKENS = 2000
"""Neutral-sentence tokens (half A's SAE corpus) whose subspace coordinates the repair must keep."""
CONTROL_KINDS = {"random_subspace": "random", "permuted_targets": "permuted"}
"""The two kinds of control, and the prefix of their columns in the ``repair`` table."""

Controls = dict[str, dict[str, ctl.ControlResult]]
"""Per kind of control, per diagnostic: the repair's change against the controls' changes."""


@dataclass(frozen=True)
class RepairProblem:
    """What the repair is fitted to on half A and read on in half B, at one read point."""

    fit_x: np.ndarray
    """Half A's moral items, the rows whose similarity structure the repair fits."""
    targets: np.ndarray
    """Their ground-truth moral vectors."""
    lemmas: np.ndarray
    """Their lemmas, the unit permuted targets move by."""
    keep: np.ndarray
    """Half A's neutral items and neutral-sentence tokens, which the repair must leave in place."""
    pool: np.ndarray
    """Half A's items and the tokens: the residual covariance random subspaces are drawn from."""
    basis: np.ndarray
    """Orthonormal rows spanning the moral features' decoder directions."""
    center: np.ndarray
    """Half A's neutral items' mean, from which subspace coordinates are measured."""
    x_b: np.ndarray
    """Half B's items, on which the repair is reported."""
    report_items: pd.DataFrame
    keep_weight: float
    steps: int

    def fit(self, targets: np.ndarray, seed: int) -> rep.Repair:
        """The repair that gives the fit rows the similarity structure of ``targets``."""
        return rep.fit_repair(
            self.fit_x,
            targets,
            self.keep,
            self.basis,
            self.center,
            keep_weight=self.keep_weight,
            steps=self.steps,
            seed=seed,
        )


@dataclass(frozen=True)
class Movement:
    """How far the repair moved half B's rows, the tolerance below which that is nothing, and why the
    controls cannot be compared (None when they can)."""

    effect: float
    tolerance: float
    nothing: str | None


def repair_step(ctx: UnitContext[IndifferenceConfig]) -> Artifacts:
    """Fit the repair on half A, read half B through the model with it in place, and set the change of
    each diagnostic against its controls, with the repair's damage on neutral text."""
    cfg, lm = ctx.config, ctx.local
    items = ctx.read(ITEMS)
    rp = ctx.read(SAE_READ_POINT)
    directions = ctx.read(MORAL_DIRECTIONS).double().numpy()
    if len(directions) == 0:
        return Artifacts(metrics=_missing_all("no moral SAE features on half A, so nothing to repair"))
    problem = repair_problem(ctx, items, directions, rp)
    fit = problem.fit(problem.targets, seed=ctx.seed)
    edit = as_edit(lm, fit, rp)
    x_after_b = read_under_edit(ctx, edit, items, problem.report_items, rp)
    differ = items_the_edit_left_alone(problem.x_b, x_after_b, fit)
    rows_b = np.ones(len(problem.report_items), dtype=bool)
    after, paired = paired_jackknife(
        problem.x_b, x_after_b, problem.report_items, rows_b, n_blocks=cfg.n_blocks, seed=ctx.seed
    )
    before = diagnostics(problem.x_b, problem.report_items, rows_b, seed=ctx.seed)
    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts], seed=ctx.seed)
    damage = meter(edit)
    moved = movement(fit, problem.x_b)
    controls, randoms = repair_against_controls(
        fit,
        problem,
        moved,
        cfg.n_random_edits,
        ctx.seed,
        kl=lambda c: meter(as_edit(lm, c, rp))["kl_mean"],
    )
    caveats = "; on below-threshold SAE features" if ctx.get(FALLBACK_FEATURES) else ""
    caveats += f"; {moved.nothing}" if moved.nothing else ""
    metrics = {f"{n}_after_repair": _after_metric(n, after[n], paired[n], rp, caveats) for n in DIAGNOSTICS}
    for name in COMPARED:
        metrics[f"random_edit_{name}"] = controls["random_subspace"][name].null_metric(layer=rp)
        metrics[f"permuted_target_{name}"] = controls["permuted_targets"][name].null_metric(layer=rp)
    metrics["repair_kl"] = _damage_metric(damage, rp)
    rows = [_diagnostic_row(n, before[n], after[n], paired[n], controls) for n in DIAGNOSTICS]
    summary = _fit_summary(fit, rp, problem, moved, differ, damage)
    tensors = {
        REPAIR_BASIS.name: torch.as_tensor(fit.basis, dtype=torch.float32),
        REPAIR_MATRIX.name: torch.as_tensor(fit.matrix, dtype=torch.float32),
        REPAIR_CENTER.name: torch.as_tensor(fit.center, dtype=torch.float32),
    }
    tables = {"repair": pd.DataFrame(rows), "repair_fit": summary, "random_edits": randoms}
    return Artifacts(tables=tables, tensors=tensors, metrics=metrics, data={REPAIR_READ_POINT.name: rp})


def repair_problem(
    ctx: UnitContext[IndifferenceConfig], items: pd.DataFrame, directions: np.ndarray, read_point: int
) -> RepairProblem:
    """Half A's moral items with their targets, the rows to keep (half A's neutral items and up to
    ``MAX_KEEP_TOKENS`` neutral-sentence tokens, drawn with the unit's seed), the subspace spanned by the
    moral feature ``directions`` measured from half A's neutral centre, and half B's items."""
    cfg = ctx.config
    x = read_items(ctx, items, [read_point])[:, 0]
    half_a, half_b = halves(items)
    moral = items["kind"].to_numpy() != "neutral"
    neutral_a, fit_rows = half_a & ~moral, half_a & moral
    rng = np.random.default_rng(ctx.seed)
    tokens = (
        token_residuals(ctx.local, corpus(ctx, items)[1], read_point, 8, progress=ctx.progress)
        .double()
        .numpy()
    )
    if len(tokens) > MAX_KEEP_TOKENS:
        tokens = tokens[rng.choice(len(tokens), MAX_KEEP_TOKENS, replace=False)]
    return RepairProblem(
        fit_x=x[fit_rows],
        targets=items[list(VECTOR_COLUMNS)].to_numpy(dtype=np.float64)[fit_rows],
        lemmas=items.loc[fit_rows, "lemma"].to_numpy(),
        keep=np.concatenate([x[neutral_a], tokens]),
        pool=np.concatenate([x[half_a], tokens]),
        basis=rep.subspace_basis(directions),
        center=x[neutral_a].mean(0),
        x_b=x[half_b],
        report_items=items[half_b].reset_index(drop=True),
        keep_weight=cfg.keep_weight,
        steps=cfg.repair_steps,
    )


def as_edit(lm: LanguageModel, fit: rep.Repair, read_point: int) -> EditSubspace:
    """The fitted repair as an edit of the model's residual stream at ``read_point``."""
    return lm.edit_subspace(
        torch.as_tensor(fit.basis, dtype=torch.float32),
        torch.as_tensor(fit.matrix, dtype=torch.float32),
        layers=[read_point],
        center=torch.as_tensor(fit.center, dtype=torch.float32),
    )


def read_under_edit(
    ctx: UnitContext[IndifferenceConfig],
    edit: EditSubspace,
    items: pd.DataFrame,
    report_items: pd.DataFrame,
    read_point: int,
) -> np.ndarray:
    """Half B's ``report_items`` read through the model with the repair in place (uncached), in the
    carrier chosen for all ``items``."""
    cfg = ctx.config
    reading = reading_items(carrier_of(cfg, items), report_items["text"])
    with edit:
        x = ctx.local.residuals(reading, layers=[read_point], pool=cfg.pool, progress=ctx.progress)
        return x[:, 0].double().numpy()


def items_the_edit_left_alone(x_b: np.ndarray, x_after_b: np.ndarray, fit: rep.Repair) -> int:
    """How many of half B's items the edit, read through the model, did not map as the fitted map does.

    Those are items whose pooled tokens include special tokens (an unknown-token id, say), which the edit
    leaves alone by design; more than a tenth of them means the edit is wrong, and raises."""
    scale = np.abs(x_b).max() or 1.0
    gaps = np.abs(x_after_b - fit.apply(x_b)).max(axis=1) / scale
    differ = int((gaps > 1e-3).sum())
    if differ > 0.1 * len(gaps):
        raise RuntimeError(
            f"the repair read through the model differs from the fitted map on {differ} of {len(gaps)} items "
            f"(largest gap {gaps.max():.2e})"
        )
    return differ


def movement(fit: rep.Repair, x_b: np.ndarray) -> Movement:
    """The repair's mean displacement of half B's rows against ``MOVED_TOLERANCE`` of their spread."""
    effect = rep.displacement(fit, x_b)
    tolerance = MOVED_TOLERANCE * float(np.linalg.norm(x_b - fit.center, axis=1).mean())
    return Movement(effect, tolerance, ctl.edit_moved_nothing(effect, min_effect=tolerance, rank=fit.k))


def repair_against_controls(
    fit: rep.Repair,
    problem: RepairProblem,
    moved: Movement,
    n: int,
    seed: int,
    kl: Callable[[rep.Repair], float],
) -> tuple[Controls, pd.DataFrame]:
    """The repair against its two kinds of control, on half B, scored like the repair (fast settings):

    - ``random_subspace``: the fitted matrix in random subspaces drawn from the residual covariance at the
      read point (``problem.pool``), rescaled to the repair's mean displacement of half B's rows;
    - ``permuted_targets``: refits, to their own optimum, on targets permuted across whole lemmas.

    Not computable (and the controls not built) when the repair moved nothing. The table has one row per
    control, with the damage (``kl``) of the first two of each kind."""
    x_b, report_items = problem.x_b, problem.report_items
    better = {name: BETTER[name] for name in DIAGNOSTICS}
    described = _control_descriptions(n, moved.effect)
    if moved.nothing is not None:
        empty = {
            kind: {m: ctl.not_computable(moved.nothing, better=b, controls=d) for m, b in better.items()}
            for kind, d in described.items()
        }
        return empty, pd.DataFrame(columns=["kind", "replicate", "displacement", *DIAGNOSTICS])
    edits = draw_controls(fit, problem, moved.effect, n, seed)
    rows_b = np.ones(len(report_items), dtype=bool)

    def score(x_rows: np.ndarray) -> dict[str, float]:
        return diagnostics(x_rows, report_items, rows_b, seed=seed, settings=FAST_SETTINGS)

    base, after = score(x_b), score(fit.apply(x_b))
    results: Controls = {}
    table: list[dict[str, Any]] = []
    for kind, group in edits.items():
        scores = [score(c.apply(x_b)) for c in group]
        effects = [rep.displacement(c, x_b) for c in group]
        results[kind] = ctl.compare_scores(
            base,
            after,
            scores,
            better=better,
            describe=described[kind],
            edit_effect=moved.effect,
            min_effect=moved.tolerance,
            control_effects=effects if kind == "random_subspace" else None,
        )
        table += _control_rows(kind, group, scores, effects, kl)
    return results, pd.DataFrame(table)


def draw_controls(
    fit: rep.Repair, problem: RepairProblem, effect: float, n: int, seed: int
) -> dict[str, list[rep.Repair]]:
    """``n`` controls of each kind, drawn in turn from one generator seeded with ``seed``: the fitted
    matrix in a random covariance subspace at the repair's ``effect``, and a refit to lemma-permuted
    targets (seeded ``seed + r + 1`` for the r-th)."""
    rng = np.random.default_rng(seed)
    edits: dict[str, list[rep.Repair]] = {"random_subspace": [], "permuted_targets": []}
    for r in range(n):
        moved_elsewhere = rep.in_subspace(fit, ctl.covariance_basis(problem.pool, fit.k, rng))
        if rep.displacement(moved_elsewhere, problem.x_b) > 0:
            moved_elsewhere = rep.at_displacement(moved_elsewhere, problem.x_b, effect)
        edits["random_subspace"].append(moved_elsewhere)
        shuffled = ctl.permute_groups(problem.targets, problem.lemmas, rng)
        edits["permuted_targets"].append(problem.fit(shuffled, seed=seed + r + 1))
    return edits


def _control_descriptions(n: int, effect: float) -> dict[str, str]:
    return {
        "random_subspace": f"{n} random-subspace edits drawn from the residual covariance, matched on the "
        f"repair's mean displacement of half B's rows ({effect:.3g})",
        "permuted_targets": f"{n} refits to targets permuted across whole lemmas, each at its own optimum",
    }


def _control_rows(
    kind: str,
    group: list[rep.Repair],
    scores: list[dict[str, float]],
    effects: list[float],
    kl: Callable[[rep.Repair], float],
) -> list[dict[str, Any]]:
    """One row per control of ``kind``: its norm, displacement, scores, and (first two only) damage."""
    rows = []
    for r, (c, sc, e) in enumerate(zip(group, scores, effects, strict=True)):
        row = {"kind": kind, "replicate": r, "edit_norm": c.norm, "displacement": e, **sc}
        row["kl"] = kl(c) if r < 2 else np.nan
        rows.append(row)
    return rows


def _missing_all(note: str) -> dict[str, dict[str, Any]]:
    names = [f"{m}_after_repair" for m in DIAGNOSTICS]
    names += [f"{kind}_{m}" for kind in ("random_edit", "permuted_target") for m in COMPARED]
    return {n: missing(note) for n in [*names, "repair_kl"]}


def _p_text(p: float | None) -> str:
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def _after_metric(name: str, est: Estimate, diff: Estimate, read_point: int, caveats: str) -> dict[str, Any]:
    """A diagnostic on half B after the repair, with its paired change and whether that is an improvement."""
    better = BETTER[name]
    improved = diff.ci_high < 0 if better == "lower" else diff.ci_low > 0
    worse = diff.ci_low > 0 if better == "lower" else diff.ci_high < 0
    verdict = "an improvement" if improved else "worse" if worse else "no clear change"
    return metric(
        est.estimate,
        est.ci_low,
        est.ci_high,
        p=diff.p,
        n=est.n,
        layer=read_point,
        better=better,
        note=f"half B; change {diff.estimate:+.3f} [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}] "
        f"(paired jackknife over lemma blocks, {_p_text(diff.p)}): {verdict}{caveats}",
    )


def _diagnostic_row(
    name: str, before: float, est: Estimate, diff: Estimate, controls: Controls
) -> dict[str, Any]:
    """One row of the ``repair`` table: a diagnostic before, after, its change, and each kind of control's
    range (as before plus their changes), median change, p and verdict."""
    row: dict[str, Any] = {
        "metric": name,
        "before": before,
        "after": est.estimate,
        "after_ci_low": est.ci_low,
        "after_ci_high": est.ci_high,
        "change": diff.estimate,
        "change_ci_low": diff.ci_low,
        "change_ci_high": diff.ci_high,
    }
    for kind, label in CONTROL_KINDS.items():
        res = controls[kind][name]
        s = res.summary
        row[f"{label}_low"] = np.nan if s is None else before + s.low
        row[f"{label}_high"] = np.nan if s is None else before + s.high
        row[f"{label}_change_median"] = np.nan if s is None else s.median
        row[f"{label}_p"] = res.p
        row[f"{label}_verdict"] = res.verdict()
    return row


def _damage_metric(damage: dict[str, float], read_point: int) -> dict[str, Any]:
    """``repair_kl``: the repair's KL on neutral texts, with its perplexity ratio in the note."""
    note = f"perplexity ratio {damage['ppl_ratio']:.3f} on {int(damage['n_texts'])} neutral texts"
    return kl_metric(damage, layer=read_point, note=note)


def _fit_summary(
    fit: rep.Repair,
    read_point: int,
    problem: RepairProblem,
    moved: Movement,
    differ: int,
    damage: dict[str, float],
) -> pd.DataFrame:
    """The ``repair_fit`` table's one row: the subspace, the fit, how far it moved, and its damage."""
    return pd.DataFrame(
        [
            {
                "read_point": read_point,
                "subspace_dim": fit.k,
                "edit_norm": fit.norm,
                "displacement": moved.effect,
                "moved_tolerance": moved.tolerance,
                "controls": moved.nothing or "compared",
                "structure_before": fit.structure_before,
                "structure_after": fit.structure_after,
                "keep_change": fit.keep_change,
                "keep_rows": len(problem.keep),
                "items_with_untouched_special_tokens": differ,
                **{f"damage_{k}": v for k, v in damage.items()},
            }
        ]
    )
