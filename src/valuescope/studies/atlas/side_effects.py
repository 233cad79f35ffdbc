"""The ``side_effects`` step of ``atlas``: what else moves when one value is steered, and at what cost?

Schwartz's circle predicts that raising one value raises its neighbours and lowers its opposites. For each
value the mechanisms study steered with its prompted vector, the change of every statement's self-rating
is read at two strengths: the steering step's own (matched to its target damage, read from its units) and
a lower one (``sidefx_low`` of that damage, read here). The ten per-value changes of each edit are fit with
a cosine of the circle angle (``circle_fit``): amplitude, phase from the steered value and R², each with a
CI over statements resampled within value. The null is the mechanisms study's random directions (one per
steered value, at matched damage where that profile reads them, else at the prompted vector's alpha),
fit the same way and compared paired over steered values. The steered-by-changed matrix's circularity is
set beside that of ValuePortrait's people (their value correlations' Spearman with the circle).

Cost beside benefit, per edit: KL and perplexity on neutral text, and the length of the answers steered
with the same vector (the mechanisms study's diversity answers).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats as sps

from valuescope import stats
from valuescope.data.reference import reference_texts
from valuescope.data.valueportrait import VALUEPORTRAIT_HUMANS, human_value_correlations, load_human_pvq
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.instruments.self_rating import OPTIONS, SELF_RATING
from valuescope.readout.damage import DamageMeter
from valuescope.readout.ratings import PreparedRating
from valuescope.stats.estimate import Estimate
from valuescope.stats.metrics import metric, missing
from valuescope.studies.atlas.circle_fit import (
    SideEffects,
    circle_angles,
    circle_side_effects,
    fit_cosine,
    human_circle_fit,
)
from valuescope.studies.atlas.config import AtlasConfig
from valuescope.studies.atlas.outputs import (
    ALPHAS,
    COMPLIANCE,
    PROMPTED_VECTORS,
    READ_POINT,
    SELF_RATINGS,
    STEERED_ANSWERS,
    STEERED_VALUES,
    STEERING_DAMAGE,
    STEERING_DELTAS,
)
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
CIRCULAR = "a circular interval, unwrapped around the estimate (its bounds may pass ±180)"
AMPLITUDE_BIAS = (
    "a fit to noise has a positive amplitude and R², and resampling adds noise, so the percentile CI can "
    "sit above the estimate (its low end is then the estimate): read it against the random directions, "
    "which carry the same bias"
)
KIND = "prompted"
"""The vectors steered: the prompted ones (the mechanisms paper steers with them)."""


def side_effects_step(ctx: UnitContext[AtlasConfig]) -> Artifacts:
    cfg = ctx.config
    deltas = ctx.read(STEERING_DELTAS)
    steered = list(ctx.read(STEERED_VALUES))
    items = _items(deltas, steered[0])
    item_value = np.array([VALUES.index(v) for v in items["item_value"]])
    steered_idx = [VALUES.index(v) for v in steered]
    high = _changes(deltas, KIND, steered, items)
    random_kind = "random_matched" if (deltas["kind"] == "random_matched").any() else "random"
    null = _changes(deltas, random_kind, steered, items)
    low, low_damage = _low_strength(ctx, items, steered)
    damage = ctx.read(STEERING_DAMAGE)
    high_damage = damage[damage["kind"] == KIND].set_index("value").reindex(steered)
    strengths = {"matched": (high, high_damage), "low": (low, low_damage)}
    fits, rows = {}, []
    by_edit = np.bincount(item_value, minlength=10)[np.unique(item_value)].min() < 2
    for name, (changes, dmg) in strengths.items():
        fits[name] = circle_side_effects(changes, steered_idx, item_value, n_boot=cfg.n_boot, seed=ctx.seed)
        if by_edit:
            fits[name] = over_edits(fits[name], cfg.n_boot, ctx.seed)
        rows += _fit_rows(fits[name], name, dmg, _answer_lengths(ctx, steered))
    null_fits = [
        fit_cosine(_value_means(row, item_value), s) for row, s in zip(null, steered_idx, strict=True)
    ]
    metrics = _metrics(
        fits["matched"], null_fits, random_kind, high, steered_idx, item_value, ctx, high_damage, by_edit
    )
    cost = _cost_note(ctx, high_damage, rows)
    for name in ("sidefx_amplitude", "sidefx_signed_amplitude"):
        if metrics[name].get("note"):
            metrics[name]["note"] += f"; cost: {cost}"
    changes_table = pd.concat(
        [fits[k].fits.assign(strength=k) for k in strengths] + [_null_table(null_fits, steered)],
        ignore_index=True,
    )
    return Artifacts(tables={"sidefx": changes_table, "sidefx_cost": pd.DataFrame(rows)}, metrics=metrics)


def over_edits(fit: SideEffects, n_boot: int, seed: int) -> SideEffects:
    """``fit`` with its intervals from resampling the edits (steered values) instead of the statements:
    where a value has one statement, statements cannot be resampled within value."""
    f = fit.fits
    n = len(f)

    def mean_of(column: str) -> Estimate:
        x = f[column].to_numpy(dtype=float)
        est, lo, hi = stats.bootstrap(lambda i: float(np.mean(x[i])), n, n_boot=n_boot, seed=seed)
        return Estimate(est, lo, hi, None, n)

    phases = np.radians(f["phase_deg"].to_numpy(dtype=float))
    centre = math.atan2(np.sin(phases).mean(), np.cos(phases).mean())

    def phase_of(i: np.ndarray) -> float:
        mean = math.atan2(np.sin(phases[i]).mean(), np.cos(phases[i]).mean())
        return math.degrees(centre + math.remainder(mean - centre, 2 * math.pi))

    est, lo, hi = stats.bootstrap(phase_of, n, n_boot=n_boot, seed=seed)
    return replace(
        fit,
        amplitude=mean_of("amplitude"),
        signed_amplitude=mean_of("signed_amplitude"),
        r2=mean_of("r2"),
        phase_deg=Estimate(est, lo, hi, None, n),
        phase_rad=Estimate(math.radians(est), math.radians(lo), math.radians(hi), None, n),
    )


def _items(deltas: pd.DataFrame, first: str) -> pd.DataFrame:
    """The statements every edit was read on, in the steering step's order."""
    one = deltas[(deltas["kind"] == KIND) & (deltas["steered_value"] == first)]
    return one[["statement_id", "item_value"]].reset_index(drop=True)


def _changes(deltas: pd.DataFrame, kind: str, steered: list[str], items: pd.DataFrame) -> np.ndarray:
    """(steered values, statements): the rating change under edit ``kind`` of each steered value."""
    rows = deltas[deltas["kind"] == kind].pivot_table(
        index="steered_value", columns="statement_id", values="delta", aggfunc="mean"
    )
    return rows.reindex(index=steered, columns=items["statement_id"]).to_numpy(dtype=float)


def _value_means(row: np.ndarray, item_value: np.ndarray) -> np.ndarray:
    return np.array(
        [np.nanmean(row[item_value == v]) if (item_value == v).any() else np.nan for v in range(10)]
    )


def _low_strength(
    ctx: UnitContext[AtlasConfig], items: pd.DataFrame, steered: list[str]
) -> tuple[np.ndarray, pd.DataFrame]:
    """The rating changes and damage of each steered value's prompted vector at ``sidefx_low`` of the
    steering step's damage (alpha scaled by its square root)."""
    cfg, lm = ctx.config, ctx.local
    rated = ctx.read(SELF_RATINGS).drop_duplicates("statement_id").set_index("statement_id")
    known = items["statement_id"].isin(rated.index)
    if not known.all():
        raise ValueError(
            f"atlas: {int((~known).sum())} steered statements are not among the mechanisms study's rated "
            "statements; rerun mechanisms with the same statements"
        )
    text = rated.loc[items["statement_id"], "text"].astype(str)
    reverse = rated.loc[items["statement_id"], "reverse"].astype(bool)
    rating = PreparedRating(
        lm, [SELF_RATING.format(text=t.strip()) for t in text], OPTIONS, reverse=list(reverse), mass=False
    )
    base = rating(progress=False)["expected"].to_numpy(dtype=float)
    rp = ctx.read(READ_POINT)
    vectors = ctx.read(PROMPTED_VECTORS)[:, rp].double().numpy()
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    alphas = ctx.read(ALPHAS)[KIND]
    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts])
    out = np.zeros((len(steered), len(items)))
    rows = []
    for r, value in enumerate(steered):
        alpha = float(alphas[r]) * math.sqrt(cfg.sidefx_low)
        edit = lm.steer(torch.from_numpy(vectors[VALUES.index(value)]).float(), [rp], alpha=alpha)
        d = meter(edit)
        with edit:
            out[r] = rating(progress=False)["expected"].to_numpy(dtype=float) - base
        rows.append({"value": value, "alpha": alpha, "kl": d["kl_mean"], "ppl_ratio": d["ppl_ratio"]})
    return out, pd.DataFrame(rows).set_index("value")


def _answer_lengths(ctx: UnitContext[AtlasConfig], steered: list[str]) -> dict[str, float]:
    """Mean words per answer steered with each value's prompted vector, and unsteered (``""``)."""
    if not ctx.has(STEERED_ANSWERS):
        return {}
    frame = pd.DataFrame(ctx.read(STEERED_ANSWERS))
    if frame.empty:
        return {}
    frame["words"] = [len(str(t).split()) for t in frame["response"]]
    out = {"": float(frame.loc[frame["kind"] == "none", "words"].mean())}
    for value in steered:
        out[value] = float(frame.loc[(frame["kind"] == KIND) & (frame["value"] == value), "words"].mean())
    return out


def _cost_note(ctx: UnitContext[AtlasConfig], damage: pd.DataFrame, rows: list[dict[str, Any]]) -> str:
    """The damage of the matched edits, their answers' length, and (from the mechanisms study's compliance
    step, when it ran) the over-refusal change under the pooled prompted-only component."""
    kl, ppl = damage["kl"].to_numpy(dtype=float), damage["ppl_ratio"].to_numpy(dtype=float)
    out = f"KL {np.nanmean(kl):.3f} (max {np.nanmax(kl):.3f}), perplexity ratio {np.nanmean(ppl):.3f}"
    matched = [r for r in rows if r["strength"] == "matched"]
    words = np.array([r["answer_words"] for r in matched], dtype=float)
    if matched and np.isfinite(words).any():
        out += (
            f", answers {np.nanmean(words):.1f} words steered vs "
            f"{matched[0]['answer_words_unsteered']:.1f} unsteered"
        )
    table = ctx.get(COMPLIANCE) if ctx.has(COMPLIANCE) else None
    if table is not None:
        row = table[(table["edit"] == "add_prompted_only") & (table["task"] == "overrefusal")]
        if len(row) and pd.notna(row["change"].iloc[0]):
            r = row.iloc[0]
            out += (
                f"; over-refusal {float(r['change']):+.3f} [{float(r['change_low']):+.3f}, "
                f"{float(r['change_high']):+.3f}] under the pooled prompted-only component at KL "
                f"{float(r['kl']):.3f} (mechanisms' compliance step)"
            )
    return out


def _fit_rows(
    fit: SideEffects, strength: str, damage: pd.DataFrame, lengths: dict[str, float]
) -> list[dict[str, Any]]:
    rows = []
    for rec in fit.fits.to_dict("records"):
        value = str(rec["steered"])
        rows.append(
            {"strength": strength, "value": value, "alpha": damage.loc[value, "alpha"],
             "kl": damage.loc[value, "kl"], "ppl_ratio": damage.loc[value, "ppl_ratio"],
             "own_change": rec[value], "amplitude": rec["amplitude"], "phase_deg": rec["phase_deg"],
             "r2": rec["r2"], "answer_words": lengths.get(value, np.nan),
             "answer_words_unsteered": lengths.get("", np.nan)}
        )  # fmt: skip
    return rows


def _null_table(fits: list[Any], steered: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"steered": v, "amplitude": f.amplitude, "phase_deg": math.degrees(f.phase), "r2": f.r2,
             "signed_amplitude": f.amplitude * math.cos(f.phase), "strength": "random"}
            for v, f in zip(steered, fits, strict=True)
        ]
    )  # fmt: skip


def circularity(changes: np.ndarray, steered: list[int], item_value: np.ndarray) -> float:
    """Spearman of each edit's per-value changes (centred per edit, the steered value left out) with the
    cosine of the circle angle between the changed and the steered value."""
    angles = circle_angles()
    ys, refs = [], []
    for row, s in zip(changes, steered, strict=True):
        means = _value_means(row, item_value)
        means = means - np.nanmean(means)
        for v in range(10):
            if v != s and np.isfinite(means[v]):
                ys.append(means[v])
                refs.append(round(math.cos(angles[v] - angles[s]), 12))
    if len(ys) < 4 or np.ptp(ys) == 0:
        return float("nan")
    return float(sps.spearmanr(ys, refs).statistic)


def _metrics(
    fit: SideEffects,
    null_fits: list[Any],
    random_kind: str,
    changes: np.ndarray,
    steered: list[int],
    item_value: np.ndarray,
    ctx: UnitContext[AtlasConfig],
    damage: pd.DataFrame,
    by_edit: bool,
) -> dict[str, dict[str, Any]]:
    cfg = ctx.config
    n_edits = len(steered)
    over = (
        "CI over steered values (one statement per value: statements cannot be resampled)"
        if by_edit
        else "CI over statements within value"
    )
    kl = float(np.nanmean(damage["kl"].to_numpy(dtype=float)))
    control = f"{random_kind.replace('_', ' ')} directions (one per steered value" + (
        ", matched on damage)" if random_kind == "random_matched" else ", at the prompted vector's alpha)"
    )
    base = f"{n_edits} steered values, prompted vectors at mean KL {kl:.3f}; {over}"
    amps = fit.fits["amplitude"].to_numpy(dtype=float)
    signed = fit.fits["signed_amplitude"].to_numpy(dtype=float)
    null_amp = np.array([f.amplitude for f in null_fits])
    null_signed = np.array([f.amplitude * math.cos(f.phase) for f in null_fits])
    out: dict[str, dict[str, Any]] = {}
    for name, est, own, other in (
        ("sidefx_amplitude", fit.amplitude, amps, null_amp),
        ("sidefx_signed_amplitude", fit.signed_amplitude, signed, null_signed),
    ):
        ok = np.isfinite(own) & np.isfinite(other)
        p = None
        if ok.sum() >= 2:
            p = stats.paired_difference(
                own[ok], other[ok], n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
            ).p
        side = "above" if np.nanmean(own) > np.nanmean(other) else "below"
        note = (
            f"{base}; p (two-sided): paired over steered values against {control} (their mean "
            f"{np.nanmean(other):.3f}; the value vectors' is {side} it)"
        )
        if name == "sidefx_amplitude":
            note += f"; {AMPLITUDE_BIAS}"
        out[name] = metric(est.estimate, est.ci_low, est.ci_high, p=p, n=est.n, note=note)
    out["sidefx_phase"] = metric(
        fit.phase_deg.estimate, fit.phase_deg.ci_low, fit.phase_deg.ci_high, n=fit.phase_deg.n,
        note=f"{base}; degrees; 0 = the cosine peaks on the steered value; {CIRCULAR}",
    )  # fmt: skip
    out["sidefx_r2"] = metric(
        fit.r2.estimate, fit.r2.ci_low, fit.r2.ci_high, n=fit.r2.n,
        note=f"{base}; {control}: mean R² {np.nanmean([f.r2 for f in null_fits]):.3f}; {AMPLITUDE_BIAS}",
    )  # fmt: skip
    out["sidefx_circularity"] = _circularity_metric(changes, steered, item_value, ctx, base, by_edit)
    return out


def _circularity_metric(
    changes: np.ndarray,
    steered: list[int],
    item_value: np.ndarray,
    ctx: UnitContext[AtlasConfig],
    base: str,
    by_edit: bool,
) -> dict[str, Any]:
    cfg = ctx.config
    observed = circularity(changes, steered, item_value)
    if not np.isfinite(observed):
        return missing("not computable: fewer than four changed values, or none moved")
    edits = np.array(steered)
    try:
        if by_edit:
            est, lo, hi = stats.bootstrap(
                lambda i: circularity(changes[i], list(edits[i]), item_value),
                len(edits),
                n_boot=cfg.n_boot,
                seed=ctx.seed,
            )
        else:
            est, lo, hi = stats.bootstrap(
                lambda i: circularity(changes[:, i], steered, item_value[i]),
                changes.shape[1],
                strata=item_value,
                n_boot=cfg.n_boot,
                seed=ctx.seed,
            )
    except ValueError as error:
        return missing(f"not computable: {error}")
    human = ""
    path = ctx.data.find(VALUEPORTRAIT_HUMANS)
    if path is not None:
        corr = human_value_correlations(load_human_pvq(ctx.data.use(path))).to_numpy()
        fit = human_circle_fit(corr)
        human = f"; ValuePortrait's people: their value correlations' Spearman with the circle {fit:.2f}"
    return metric(
        est, lo, hi, n=changes.shape[1], note=f"{base}; steered value left out, each edit centred{human}"
    )
