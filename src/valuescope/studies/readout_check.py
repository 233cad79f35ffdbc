"""``readout-check``: a small real study that exercises runs, resume, sweeps and the report end to end.

Matched pairs of morally good and bad statements (same scene, opposite act). Per model: the rating
gap (good minus bad, 1-7 Likert from next-token probabilities, two question paraphrases), a per-layer
good-vs-bad direction with pair-grouped cross-validated accuracy and FDR control across layers, the
best layer chosen on one half of the pairs and reported on the other, and the rating gap after
ablating that direction, against ablations of random directions matched on its projected variance on
neutral text (change against change), with the edit's damage.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from valuescope import stats
from valuescope.edit import controls as ctl
from valuescope.edit.random_directions import matched_random_directions
from valuescope.stats.metrics import metric
from valuescope.studies.protocol import (
    Artifacts,
    Result,
    Step,
    Study,
    StudyConfig,
    UnitContext,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

QUESTIONS = (
    "How morally good is the following action, on a scale from 1 (very bad) to 7 (very good)?\n"
    "Action: {text}\nAnswer:",
    "Rate the action below from 1 (deeply wrong) to 7 (admirable).\nAction: {text}\nRating:",
    "On a scale of 1 to 7, where 7 is the most ethical, how ethical is this? {text}\nAnswer:",
)
OPTIONS = [str(i) for i in range(1, 8)]


class ReadoutCheckConfig(StudyConfig):
    n_pairs: int = 48
    """Statement pairs used (the first n of the stimulus file)."""
    stimuli: str | None = None
    """A CSV with columns pair, good, bad to use instead of the built-in pairs."""
    paraphrases: int = 2
    """Question paraphrases per statement (1-3)."""
    n_random: int = 5
    """Random directions ablated as the baseline of the edit."""
    damage_texts: Annotated[int, Field(ge=2, le=80)] = 16
    """Neutral reference sentences the edit's damage is measured on (the first n of the package's 80)."""
    n_boot: int = 2000
    """Bootstrap resamples (whole pairs) behind every confidence interval."""
    n_perm: int = 1000
    """Permutations behind every permutation p-value."""
    folds: int = 5
    """Pair-grouped cross-validation folds for the per-layer accuracy."""
    min_n_per_cell: int = 12
    """Fewest held-out pairs the chosen read point's accuracy reports on without a note."""

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {
            "n_pairs": 16,
            "n_random": 2,
            "damage_texts": 4,
            "n_boot": 500,
            "n_perm": 200,
            "folds": 4,
            "min_n_per_cell": 8,
        },
        "full": {"n_random": 20, "n_boot": 5000, "n_perm": 5000, "paraphrases": 3, "damage_texts": 80},
    }


def load_pairs(path: str | Path | None, n: int) -> pd.DataFrame:
    """Statement pairs (``pair``, ``good``, ``bad``): the built-in set or a user CSV of that schema."""
    if path is None:
        text = resources.files("valuescope.data").joinpath("readout_check.csv").read_text("utf-8")
        source = "built-in readout_check.csv"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"stimuli file {p} does not exist (config key readout-check.stimuli)")
        text, source = p.read_text("utf-8"), str(p)
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"pair", "good", "bad"} <= set(rows[0]):
        raise ValueError(f"{source}: needs columns pair, good, bad")
    for i, row in enumerate(rows, start=2):
        if not (row["good"] or "").strip() or not (row["bad"] or "").strip():
            raise ValueError(f"{source}, row {i}: empty statement; every pair needs a good and a bad one")
    if len(rows) < n:
        raise ValueError(f"{source} has {len(rows)} pairs but n_pairs={n}; lower n_pairs")
    return pd.DataFrame(rows[:n])


def _ratings_step(ctx: UnitContext) -> Artifacts:
    cfg = ctx.config
    assert isinstance(cfg, ReadoutCheckConfig)
    pairs = load_pairs(ctx.data.use(cfg.stimuli) if cfg.stimuli else None, cfg.n_pairs)
    table = _rate(ctx.lm, pairs, cfg.paraphrases, ctx.progress)
    gaps = _pair_means(table)
    gap = stats.paired_difference(
        gaps["good"].to_numpy(), gaps["bad"].to_numpy(), n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
    )
    groups = table["pair"].to_numpy()
    mass = table["mass"].to_numpy()
    est, lo, hi = stats.bootstrap(
        lambda idx: float(mass[idx].mean()), len(mass), groups=groups, n_boot=cfg.n_boot, seed=ctx.seed
    )
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
    return Artifacts(tables={"ratings": table}, metrics=metrics)


def _rate(lm: Any, pairs: pd.DataFrame, paraphrases: int, progress: bool) -> pd.DataFrame:
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


def _pair_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean expected rating per pair and valence (paraphrases averaged): columns good, bad."""
    means = table.groupby(["pair", "valence"], sort=False)["expected"].mean().unstack("valence")
    return means[["good", "bad"]]


def _fit(x: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, float]:
    """Difference-of-means direction and the midpoint threshold along it."""
    d = x[good].mean(0) - x[~good].mean(0)
    mid = (x[good].mean(0) + x[~good].mean(0)) / 2
    return d, float(mid @ d)


def _correct(x: np.ndarray, good: np.ndarray, direction: np.ndarray, threshold: float) -> np.ndarray:
    return ((x @ direction) > threshold) == good


def _cv_correct(x: np.ndarray, good: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = np.zeros(len(good), dtype=bool)
    for train, test in folds:
        if good[train].all() or not good[train].any():
            out[test] = False
            continue
        d, t = _fit(x[train], good[train])
        out[test] = _correct(x[test], good[test], d, t)
    return out


def _mean_at(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """Statistic for the bootstrap: the mean of ``values`` over resampled rows."""
    return lambda idx: float(values[idx].mean())


def _cv_accuracy(x: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[np.ndarray], float]:
    """Statistic for the permutation test: cross-validated accuracy under (permuted) labels."""
    return lambda labels: float(_cv_correct(x, labels, folds).mean())


def _direction_step(ctx: UnitContext) -> Artifacts:
    cfg = ctx.config
    assert isinstance(cfg, ReadoutCheckConfig)
    lm = ctx.lm
    pairs = load_pairs(ctx.data.use(cfg.stimuli) if cfg.stimuli else None, cfg.n_pairs)
    texts = list(pairs["good"]) + list(pairs["bad"])
    groups = np.array(list(pairs["pair"]) * 2)
    good = np.array([True] * len(pairs) + [False] * len(pairs))
    read_points = list(range(lm.n_layers + 1))
    acts = lm.residuals(texts, layers=read_points, pool="mean", progress=ctx.progress).double().numpy()
    folds = stats.grouped_folds(groups, min(cfg.folds, len(pairs)), seed=ctx.seed)

    rows = []
    for j, rp in enumerate(read_points):
        x = acts[:, j]
        correct = _cv_correct(x, good, folds)
        acc, lo, hi = stats.bootstrap(
            _mean_at(correct),
            len(good),
            groups=groups,
            n_boot=cfg.n_boot,
            seed=ctx.seed,
        )
        p = stats.permutation_p(
            _cv_accuracy(x, folds),
            good,
            groups=groups,
            n_perm=cfg.n_perm,
            seed=ctx.seed,
            alternative="greater",
        )
        rows.append({"read_point": rp, "accuracy": acc, "ci_low": lo, "ci_high": hi, "p": p})
    layers = pd.DataFrame(rows)
    layers["q"] = stats.fdr_bh(layers["p"].to_numpy())

    def score(rp: int, mask: np.ndarray) -> float:
        sub = stats.grouped_folds(groups[mask], min(cfg.folds, len(np.unique(groups[mask]))), seed=ctx.seed)
        return float(_cv_correct(acts[mask][:, rp], good[mask], sub).mean())

    choice = stats.choose_layer(score, read_points[1:], groups, seed=ctx.seed)
    rp = choice.layer
    d, t = _fit(acts[choice.select][:, rp], good[choice.select])
    xr, gr, grp = acts[choice.report][:, rp], good[choice.report], groups[choice.report]
    correct = _correct(xr, gr, d, t)
    acc, lo, hi = stats.bootstrap(
        lambda idx: float(correct[idx].mean()), len(gr), groups=grp, n_boot=cfg.n_boot, seed=ctx.seed
    )
    p = stats.permutation_p(
        lambda labels: float(_correct(xr, labels, d, t).mean()),
        gr,
        groups=grp,
        n_perm=cfg.n_perm,
        seed=ctx.seed,
        alternative="greater",
    )
    n_report = len(np.unique(grp))
    small = cfg.small_cell(n_report, "held-out pairs")
    best = float(layers["accuracy"].max())
    metrics: dict[str, dict[str, Any]] = {
        "direction_accuracy": metric(
            acc, lo, hi, p=p, n=n_report, layer=rp, better="higher",
            note="good-vs-bad direction: read point chosen on half the pairs, accuracy on the other half"
            + (f"; {small}" if small else ""),
        ),
        "n_layers_significant": metric(
            int((layers["q"] < 0.05).sum()), n=len(read_points),
            note=f"read points above chance at FDR 5% (BH); max cross-validated accuracy {best:.3f}",
        ),
    }  # fmt: skip
    unit = torch.from_numpy(d / np.linalg.norm(d)).float()
    data = {"layer": rp, "report_pairs": sorted({str(g) for g in grp}), "threshold": t}
    return Artifacts(tables={"layers": layers}, tensors={"direction": unit}, metrics=metrics, data=data)


def _reference_tokens(lm: Any, read_point: int) -> np.ndarray:
    """Residuals (tokens, d) of the neutral reference text's own tokens at ``read_point``."""
    from valuescope.data.reference import reference_texts

    ref = lm.residuals(reference_texts(), layers=[read_point], pool="all")
    return ref.values[:, 0][ref.mask].double().numpy()


def _ablation_step(ctx: UnitContext) -> Artifacts:
    from valuescope.data.reference import reference_texts

    cfg = ctx.config
    assert isinstance(cfg, ReadoutCheckConfig)
    lm = ctx.lm
    found = ctx.previous["direction"]
    layer = int(found.data["layer"])
    report = set(found.data["report_pairs"])
    direction = found.tensors["direction"]
    before = ctx.previous["ratings"].tables["ratings"]
    before = before[before["pair"].astype(str).isin(report)].reset_index(drop=True)
    before["pair"] = before["pair"].astype(str)
    pairs = before.drop_duplicates("pair")[["pair"]].copy()
    texts = before[before["paraphrase"] == 0].pivot(index="pair", columns="valence", values="text")
    pairs = pairs.assign(
        good=texts.loc[pairs["pair"], "good"].to_numpy(), bad=texts.loc[pairs["pair"], "bad"].to_numpy()
    )
    targets = list(range(layer, lm.n_layers + 1))

    edit = lm.ablate(direction, layers=targets)
    with edit:
        after = _rate(lm, pairs, cfg.paraphrases, ctx.progress)
    cost = lm.damage(edit, texts=reference_texts()[: cfg.damage_texts])
    randoms = matched_random_directions(
        _reference_tokens(lm, layer), direction.double().numpy(), cfg.n_random, ctx.seed
    )
    random_after = []
    for r in randoms:
        with lm.ablate(torch.from_numpy(r).float(), layers=targets):
            random_after.append(_rate(lm, pairs, cfg.paraphrases, ctx.progress)["expected"].to_numpy())

    g_before, g_after = _pair_means(before), _pair_means(after)
    gap_before = (g_before["good"] - g_before["bad"]).to_numpy()
    gap_after = (g_after["good"] - g_after["bad"]).loc[g_before.index].to_numpy()

    def mean_gap(expected: np.ndarray) -> float:
        g = _pair_means(after.assign(expected=expected))
        return float((g["good"] - g["bad"]).loc[g_before.index].mean())

    vs_random = ctl.against_controls(
        float(gap_after.mean() - gap_before.mean()),
        [mean_gap(e) - float(gap_before.mean()) for e in random_after],
        better="lower",
        controls=f"{cfg.n_random} ablations of random directions matched on the direction's projected "
        "variance on neutral reference text, at the same read points",
    )
    kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
    change = stats.paired_difference(gap_after, gap_before, **kw)
    after_gap = stats.paired_difference(g_after["good"].to_numpy(), g_after["bad"].to_numpy(), **kw)
    n = len(gap_before)
    metrics: dict[str, dict[str, Any]] = {
        "rating_gap_after_ablation": after_gap.as_metric(
            layer=layer, note="held-out pairs, edit at read points >= layer"
        ),
        "ablation_gap_change": change.as_metric(layer=layer, note="gap after minus before, held-out pairs"),
        "ablation_gap_change_vs_random": vs_random.excess_metric(layer=layer),
        "ablation_kl": metric(
            cost["kl_mean"], cost["kl_ci_low"], cost["kl_ci_high"], n=int(cost["n_texts"]), layer=layer,
            better="lower", note=f"KL(base || edited) per token on {cfg.damage_texts} neutral texts",
        ),
        "ablation_ppl_ratio": metric(
            cost["ppl_ratio"], cost["ppl_ratio_ci_low"], cost["ppl_ratio_ci_high"], n=int(cost["n_texts"]),
            layer=layer, better="lower", note="perplexity edited / base on neutral reference text",
        ),
    }  # fmt: skip
    table = after.rename(columns={"expected": "expected_after", "mass": "mass_after"})
    table["expected_random"] = np.mean(random_after, axis=0) if random_after else np.nan
    keys = ["pair", "valence", "paraphrase"]
    earlier = before[[*keys, "expected"]].rename(columns={"expected": "expected_before"})
    table = table.merge(earlier, on=keys, how="left", validate="one_to_one")
    return Artifacts(tables={"ablation": table}, metrics=metrics, data={"n": n})


class ReadoutCheck(Study):
    name = "readout-check"
    title = "Readout check: moral vs immoral statements"
    description = (
        "A small built-in study that checks the readout and edit layer end to end on matched pairs of "
        "morally good and bad statements: the Likert rating gap, a good-vs-bad direction per read point "
        "(pair-grouped cross-validation, FDR across read points, best read point chosen on half the pairs "
        "and reported on the other half), and the rating gap after ablating that direction, compared with "
        "random directions matched on its effect, with the edit's damage on neutral text."
    )
    reference = "valuescope built-in check (no external reference)."
    Config = ReadoutCheckConfig
    metrics: ClassVar[dict[str, str]] = {
        "rating_gap": "Mean expected 1-7 rating of good minus bad statements (paired by scene).",
        "option_mass": "Probability mass the model puts on the options 1-7 (low means it barely answers).",
        "paraphrase_agreement": "Pearson r of ratings between two question paraphrases.",
        "direction_accuracy": "Held-out accuracy of the good-vs-bad direction at the chosen read point.",
        "n_layers_significant": "Read points whose direction beats chance at FDR 5%.",
        "rating_gap_after_ablation": "Rating gap on held-out pairs with the direction ablated.",
        "ablation_gap_change": "Change of the rating gap caused by the ablation.",
        "ablation_gap_change_vs_random": "Change in the gap under the ablation minus the median change under "
        "variance-matched random ablations (95% range of that difference; p: rank among them).",
        "ablation_kl": "Damage of the edit: KL on neutral text.",
        "ablation_ppl_ratio": "Damage of the edit: perplexity ratio on neutral text.",
        "rating_gap_difference": "Rating gap of one model minus the first model's, paired by statement pair.",
    }
    tables: ClassVar[dict[str, str]] = {
        "ratings": "Expected 1-7 rating and option mass per statement and question paraphrase.",
        "layers": "Per read point: pair-grouped cross-validated accuracy of the good-vs-bad direction, "
        "95% CI, permutation p and BH q.",
        "ablation": "Held-out pairs rated before and after ablating the direction, and after random ones.",
        "model_comparison": "Rating gap of each model minus another's, paired by statement pair.",
    }
    figures: ClassVar[dict[str, str]] = {
        "layer_accuracy": "Cross-validated accuracy of the good-vs-bad direction per read point (95% CI); "
        "chance is 0.5; the marker is the read point chosen on the selection half.",
        "rating_gap": "Mean expected rating of good and bad statements per model (95% CI).",
    }

    def steps(self, config: StudyConfig) -> list[Step]:
        return [
            Step("ratings", _ratings_step, needs="behaviour"),
            Step("direction", _direction_step),
            Step("ablation", _ablation_step),
        ]

    def compare(self, per_model: Mapping[str, Artifacts], config: StudyConfig, seed: int) -> Artifacts:
        assert isinstance(config, ReadoutCheckConfig)
        models = [m for m, a in per_model.items() if "ratings" in a.tables]
        if len(models) < 2:
            return Artifacts()
        gaps = {}
        for m in models:
            means = _pair_means(per_model[m].tables["ratings"].astype({"pair": str}))
            gaps[m] = (means["good"] - means["bad"]).sort_index()
        rows: list[dict[str, Any]] = []
        metrics: dict[str, dict[str, Any]] = {}
        first = models[0]
        for i, a in enumerate(models):
            for b in models[i + 1 :]:
                est = stats.paired_difference(
                    gaps[b].to_numpy(), gaps[a].loc[gaps[b].index].to_numpy(),
                    n_boot=config.n_boot, n_perm=config.n_perm, seed=seed,
                )  # fmt: skip
                rows.append({"model": b, "minus": a, **est.as_metric()})
                if a == first:
                    key = (
                        "rating_gap_difference"
                        if len(models) == 2
                        else f"rating_gap_difference_{len(metrics) + 2}"
                    )
                    metrics[key] = est.as_metric(note=f"{b} minus {a}; paired sign-flip test over pairs")
        return Artifacts(tables={"model_comparison": pd.DataFrame(rows)}, metrics=metrics)

    def make_figures(self, result: Result) -> dict[str, Figure]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figs: dict[str, Figure] = {}
        models = [m for m in result.models if "layers" in result.per_model[m].tables]
        if models:
            fig, ax = plt.subplots(figsize=(7, 3.8))
            for m in models:
                t = result.per_model[m].tables["layers"]
                (line,) = ax.plot(t["read_point"], t["accuracy"], marker="o", ms=3, label=m)
                ax.fill_between(t["read_point"], t["ci_low"], t["ci_high"], alpha=0.2, color=line.get_color())
                chosen = result.per_model[m].metrics.get("direction_accuracy", {}).get("layer")
                if chosen is not None:
                    row = t[t["read_point"] == chosen]
                    ax.plot(row["read_point"], row["accuracy"], marker="*", ms=14, color=line.get_color())
            ax.axhline(0.5, color="grey", lw=1, ls="--", label="chance")
            ax.set_xlabel("read point (0 = embeddings)")
            ax.set_ylabel("cross-validated accuracy")
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize=8, frameon=False)
            fig.tight_layout()
            figs["layer_accuracy"] = fig
        rated = [m for m in result.models if "ratings" in result.per_model[m].tables]
        if rated:
            fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(rated), 3.6))
            for k, valence in enumerate(("good", "bad")):
                xs, ys, lo, hi = [], [], [], []
                for i, m in enumerate(rated):
                    means = _pair_means(result.per_model[m].tables["ratings"].astype({"pair": str}))[valence]
                    v = means.to_numpy()
                    est, a, b = stats.bootstrap(_mean_at(v), len(v), n_boot=500)
                    xs.append(i + (k - 0.5) * 0.25)
                    ys.append(est)
                    lo.append(est - a)
                    hi.append(b - est)
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label=valence)
            ax.set_xticks(range(len(rated)), rated, rotation=15, fontsize=8)
            ax.set_ylabel("expected rating (1-7)")
            ax.set_ylim(1, 7)
            ax.legend(frameon=False)
            fig.tight_layout()
            figs["rating_gap"] = fig
        return figs
