"""The ``crosslingual`` step of ``mechanisms``: do value vectors found in English responses read and steer
the same values in Chinese, Spanish, French and Korean?

Stimuli: the study's statements and the first everyday queries in five languages (the package's
unofficial translations, or the user's ``translations`` file; ``data.translations``). Every text is read
at the study's read point, mean-pooled over its own tokens (tokens per item are reported by language).

- **Probe transfer**: along each value's English vector, the AUROC separating that value's statements
  from the other values' (forward-keyed statements, one value against the rest), macro over values, per
  language; a CI over statements and a null of random directions drawn from the covariance of that
  language's statement residuals (as many per draw as there are values).
- **Steering transfer**: the model rates each language's statements (the rating instruction stays in
  English) while steered with the English vectors at the strength the ``steering`` step matched to
  ``target_kl``; the gain of the steered value (its statements' change minus the other values' mean),
  against random directions the dose ladder put at the same damage, and its ratio to the English gain.
- **Shared vs unique**: both figures for the pooled vectors, the shared axes and the intrinsic-only and
  prompted-only residuals (table ``crosslingual``).
- **Query profiles**: the Pearson r, over the ten values, between an English query's projections and its
  translation's (mean over queries).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.data.translations import LANGUAGE_NAMES, LANGUAGES, load_translations
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.edit import controls as ctl
from valuescope.instruments.self_rating import OPTIONS, SELF_RATING
from valuescope.models.gguf_cache import cache_root
from valuescope.stats.metrics import metric, missing
from valuescope.studies.mechanisms import analysis as mech
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.dose_response import alpha_at
from valuescope.studies.mechanisms.outputs import (
    ALPHAS,
    DOSE_LEVELS,
    DOSE_RANDOM,
    POOLED_VECTORS,
    READ_POINT,
    STEERED_VALUES,
)
from valuescope.studies.mechanisms.self_ratings import balanced_subset, expected_ratings, mean_of
from valuescope.studies.mechanisms.steering_edits import steering_vectors
from valuescope.studies.mechanisms.steering_effects import steering_shifts
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
OTHER_LANGUAGES = tuple(lang for lang in LANGUAGES if lang != "en")
PROBE_KINDS = ("pooled", "shared", "intrinsic_only", "prompted_only")
"""The English directions read on every language: the value vectors fit on all responses, their axes
shared by the intrinsic and prompted conditions, and each condition's own residual."""
STEER_KINDS = ("prompted", "shared", "intrinsic_only", "prompted_only")
"""The English directions steered with while the model rates every language's statements."""
REPORTED = {"probe": "pooled", "steering": "prompted"}
"""The kind each summary metric reports (the table has every kind)."""


def crosslingual_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    cfg = ctx.config
    lm = ctx.local
    rp = ctx.read(READ_POINT)
    texts = load_translations(str(ctx.data.use(cfg.translations)) if cfg.translations else None)
    texts = texts[texts["language"].isin(cfg.languages)].reset_index(drop=True)
    if "en" not in set(texts["language"]):
        raise ValueError(
            "crosslingual: languages must include 'en', the reference every figure is set against"
        )
    x = (
        lm.residuals(
            list(texts["text"]), layers=[rp], pool="mean", progress=False, store=cache_root() / "residuals"
        )[:, 0]
        .double()
        .numpy()
    )
    texts["n_tokens"] = [len(lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts["text"]]
    vectors = steering_vectors(ctx) | {"pooled": mech.unit(ctx.read(POOLED_VECTORS)[:, rp].double().numpy())}
    rng = np.random.default_rng(ctx.seed)
    probe = _probe_table(texts, x, vectors, cfg, rng, ctx.seed)
    steer = _steering_table(ctx, texts, vectors, rp)
    profiles = _query_profiles(texts, x, vectors["pooled"], cfg, ctx.seed)
    table = probe.merge(steer, on=["language", "kind"], how="outer").merge(
        profiles, on="language", how="left"
    )
    tokens = texts.groupby(["language", "kind"])["n_tokens"].mean().unstack().reindex(list(cfg.languages))
    table["tokens_per_statement"] = table["language"].map(tokens.get("statement", pd.Series(dtype=float)))
    table["tokens_per_query"] = table["language"].map(tokens.get("query", pd.Series(dtype=float)))
    return Artifacts(tables={"crosslingual": table}, metrics=_metrics(table, cfg, rp))


# -------------------------------------------------------------------------------------------- probe


def _macro_auroc(scores: np.ndarray, values: np.ndarray) -> float:
    """Mean over values of the AUROC of column v of ``scores`` (items, values) for value v's items."""
    labels = values[:, None] == np.array(VALUES)[None, :]
    present = labels.any(0)
    return float(np.nanmean(stats.auroc_columns(scores[:, present], labels[:, present])))


def _probe_table(
    texts: pd.DataFrame,
    x: np.ndarray,
    vectors: dict[str, np.ndarray],
    cfg: MechanismsConfig,
    rng: np.random.Generator,
    seed: int,
) -> pd.DataFrame:
    """Per language and kind of direction: macro AUROC of the forward-keyed statements, its CI over
    statements, and the random-direction null's 95% range and p."""
    rows = []
    for lang, group in texts[(texts["kind"] == "statement") & ~texts["reverse"]].groupby(
        "language", sort=False
    ):
        xl = x[group.index.to_numpy()]
        values = group["value"].to_numpy()
        null = np.array(
            [
                _macro_auroc(xl @ ctl.covariance_directions(xl, len(VALUES), rng).T, values)
                for _ in range(cfg.crosslingual_null)
            ]
        )
        for kind in PROBE_KINDS:
            est, lo, hi = stats.bootstrap(
                _probe_statistic(xl @ vectors[kind].T, values),
                len(group),
                groups=group["item_id"].to_numpy(),
                strata=values,
                n_boot=cfg.n_boot,
                seed=seed,
            )
            p = (1 + int((null >= est).sum())) / (1 + len(null))
            rows.append(
                {
                    "language": lang,
                    "kind": kind,
                    "probe_auroc": est,
                    "probe_low": lo,
                    "probe_high": hi,
                    "probe_null_low": float(np.quantile(null, 0.025)),
                    "probe_null_high": float(np.quantile(null, 0.975)),
                    "probe_p": p,
                    "n_statements": len(group),
                }
            )
    return pd.DataFrame(rows)


def _probe_statistic(scores: np.ndarray, values: np.ndarray) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic: the macro AUROC of the resampled statements."""
    return lambda i: _macro_auroc(scores[i], values[i])


# ----------------------------------------------------------------------------------------- steering


def _steering_table(
    ctx: UnitContext[MechanismsConfig], texts: pd.DataFrame, vectors: dict[str, np.ndarray], rp: int
) -> pd.DataFrame:
    """Per language and kind of direction: the steered value's rating gain (mean over the dose values),
    its excess over random directions at the same damage, and its ratio to the English gain."""
    from valuescope.readout.ratings import PreparedRating

    cfg, lm = ctx.config, ctx.local
    levels = ctx.read(DOSE_LEVELS)
    alphas, steered = ctx.read(ALPHAS), ctx.get(STEERED_VALUES, VALUES)
    randoms = ctx.read(DOSE_RANDOM).double().numpy()
    chosen: list[str] = levels["values"]
    statements = texts[texts["kind"] == "statement"]
    kept = set(
        balanced_subset(
            statements[statements["language"] == "en"].rename(columns={"item_id": "statement_id"}),
            cfg.steer_statements,
        )["statement_id"]
    )
    items = statements[statements["item_id"].isin(kept)].reset_index(drop=True)
    prompts = [SELF_RATING.format(text=t.strip()) for t in items["text"]]
    rating = PreparedRating(lm, prompts, OPTIONS, reverse=list(items["reverse"].astype(bool)), mass=False)
    base = expected_ratings(rating)

    def change(direction: np.ndarray, alpha: float) -> np.ndarray:
        with lm.steer(torch.from_numpy(direction).float(), [rp], alpha=alpha):
            return expected_ratings(rating) - base

    random_alpha = [alpha_at(levels, "random", v, cfg.target_kl) for v in chosen]
    shifts: dict[str, np.ndarray] = {}  # kind -> (values, items)
    for kind in (*STEER_KINDS, "random"):
        rows = []
        for r, value in enumerate(chosen):
            if kind == "random":
                a = random_alpha[r]
                rows.append(change(randoms[r, 0], a) if a is not None else np.full(len(items), np.nan))
            else:
                rows.append(change(vectors[kind][VALUES.index(value)], alphas[kind][steered.index(value)]))
        shifts[kind] = np.vstack(rows)
    return _steering_rows(items, shifts, chosen, cfg, ctx.seed)


def _per_value(delta: np.ndarray, items: pd.DataFrame, chosen: list[str], lang: str) -> np.ndarray:
    """Per dose value: its steering shift on language ``lang``'s statements."""
    rows = (items["language"] == lang).to_numpy()
    return steering_shifts(delta[:, rows], items["value"].to_numpy()[rows], chosen)


def _steering_rows(
    items: pd.DataFrame, shifts: dict[str, np.ndarray], chosen: list[str], cfg: MechanismsConfig, seed: int
) -> pd.DataFrame:
    languages = [lang for lang in LANGUAGES if (items["language"] == lang).any()]
    rand = {lang: _per_value(shifts["random"], items, chosen, lang) for lang in languages}
    out = []
    for kind in STEER_KINDS:
        per = {lang: _per_value(shifts[kind], items, chosen, lang) for lang in languages}
        for lang in languages:
            gain, glo, ghi = _mean_ci(per[lang], cfg, seed)
            both = np.isfinite(per[lang]) & np.isfinite(rand[lang])
            excess = (
                stats.paired_difference(
                    per[lang][both], rand[lang][both], n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=seed
                )
                if both.sum() >= 2
                else None
            )
            ratio = _ratio(per[lang], per["en"], cfg, seed) if lang != "en" else (1.0, 1.0, 1.0)
            out.append(
                {
                    "language": lang,
                    "kind": kind,
                    "steering_gain": gain,
                    "steering_low": glo,
                    "steering_high": ghi,
                    "steering_excess": None if excess is None else excess.estimate,
                    "steering_excess_p": None if excess is None else excess.p,
                    "steering_ratio": ratio[0],
                    "steering_ratio_low": ratio[1],
                    "steering_ratio_high": ratio[2],
                    "n_values": int(np.isfinite(per[lang]).sum()),
                }
            )
    return pd.DataFrame(out)


def _mean_ci(x: np.ndarray, cfg: MechanismsConfig, seed: int) -> tuple[float, float, float]:
    """Mean over values with a CI over values (NaN where fewer than two values)."""
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return float("nan"), float("nan"), float("nan")
    return stats.bootstrap(lambda i: float(np.mean(x[i])), len(x), n_boot=cfg.n_boot, seed=seed)


def _ratio(a: np.ndarray, en: np.ndarray, cfg: MechanismsConfig, seed: int) -> tuple[float, float, float]:
    """Mean gain in a language over the mean English gain, paired over values, with a CI over values."""
    both = np.isfinite(a) & np.isfinite(en)
    a, en = a[both], en[both]
    if len(a) < 2 or np.mean(en) == 0:
        return float("nan"), float("nan"), float("nan")

    def ratio(i: np.ndarray) -> float:
        d = float(np.mean(en[i]))
        return float(np.mean(a[i])) / d if d != 0 else float("nan")

    try:
        return stats.bootstrap(ratio, len(a), n_boot=cfg.n_boot, seed=seed)
    except ValueError:  # too many resamples with no English gain at all
        return float(np.mean(a) / np.mean(en)), float("nan"), float("nan")


# ------------------------------------------------------------------------------------------ queries


def _query_profiles(
    texts: pd.DataFrame, x: np.ndarray, vectors: np.ndarray, cfg: MechanismsConfig, seed: int
) -> pd.DataFrame:
    """Per language: the mean over queries of Pearson r between the English query's projections on the
    ten vectors and its translation's (centred per text), with a CI over queries."""
    queries = texts[texts["kind"] == "query"]
    proj = x[queries.index.to_numpy()] @ vectors.T
    by = {lang: dict(zip(g["item_id"], proj[queries.index.get_indexer(g.index)], strict=True))
          for lang, g in queries.groupby("language", sort=False)}  # fmt: skip
    rows = []
    for lang in OTHER_LANGUAGES:
        if lang not in by or "en" not in by:
            continue
        ids = [i for i in by[lang] if i in by["en"]]
        r = np.array([np.corrcoef(by["en"][i], by[lang][i])[0, 1] for i in ids])
        est, lo, hi = (
            stats.bootstrap(mean_of(r, nan=True), len(r), n_boot=cfg.n_boot, seed=seed)
            if len(r) >= 2
            else (float("nan"),) * 3
        )
        rows.append({"language": lang, "query_profile_r": est, "query_low": lo, "query_high": hi})
    return pd.DataFrame(rows, columns=["language", "query_profile_r", "query_low", "query_high"])


# ------------------------------------------------------------------------------------------ metrics


def _metrics(table: pd.DataFrame, cfg: MechanismsConfig, rp: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    en_probe = table[(table["language"] == "en") & (table["kind"] == REPORTED["probe"])]
    en_gain = table[(table["language"] == "en") & (table["kind"] == REPORTED["steering"])]
    for lang in LANGUAGES:
        name = LANGUAGE_NAMES[lang]
        row = table[(table["language"] == lang) & (table["kind"] == REPORTED["probe"])]
        if row.empty:
            out[f"crosslingual_probe_auroc_{lang}"] = missing(f"no {name} statements were read")
        else:
            p = row.iloc[0]
            ref = "" if lang == "en" else f"; English {float(en_probe.iloc[0]['probe_auroc']):.3f}"
            out[f"crosslingual_probe_auroc_{lang}"] = metric(
                float(p["probe_auroc"]), float(p["probe_low"]), float(p["probe_high"]), p=float(p["probe_p"]),
                n=int(p["n_statements"]), layer=rp, better="higher",
                note=f"macro AUROC over values of the English value vectors on {name} statements (one value "
                f"against the rest; CI over statements); random directions from the residual covariance: "
                f"95% range [{p['probe_null_low']:.3f}, {p['probe_null_high']:.3f}]{ref}",
            )  # fmt: skip
        if lang == "en":
            continue
        row = table[(table["language"] == lang) & (table["kind"] == REPORTED["steering"])]
        if row.empty or not np.isfinite(float(row.iloc[0]["steering_ratio"])):
            out[f"crosslingual_steering_ratio_{lang}"] = missing(
                f"no {name} steering gain to set against the English one (the English gain is zero or "
                "fewer than two values were steered)"
            )
            continue
        s = row.iloc[0]
        en = en_gain.iloc[0]
        out[f"crosslingual_steering_ratio_{lang}"] = metric(
            float(s["steering_ratio"]), _f(s["steering_ratio_low"]), _f(s["steering_ratio_high"]),
            n=int(s["n_values"]), layer=rp,
            note=f"{name} gain / English gain of the steered value under the English prompted vectors at "
            f"target KL {cfg.target_kl:g} (CI over values); {name} gain {s['steering_gain']:+.3f} "
            f"[{s['steering_low']:+.3f}, {s['steering_high']:+.3f}], English {en['steering_gain']:+.3f} "
            f"[{en['steering_low']:+.3f}, {en['steering_high']:+.3f}]: a ratio means little where the "
            "English gain's CI includes 0",
        )  # fmt: skip
    return out


def _f(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(float(x)) else None
