"""``readout-check``: a small real study that exercises runs, resume, sweeps and the report end to end.

Matched pairs of morally good and bad statements (same scene, opposite act). Per model: the rating
gap (good minus bad, 1-7 Likert from next-token probabilities, two question paraphrases), a per-layer
good-vs-bad direction with pair-grouped cross-validated accuracy and FDR control across layers, the
best layer chosen on one half of the pairs and reported on the other, and the rating gap after
ablating that direction, against ablations of random directions matched on its projected variance on
neutral text (change against change), with the edit's damage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from valuescope import stats
from valuescope.stats.metrics import metric_descriptions
from valuescope.studies.protocol import (
    Artifacts,
    Result,
    Step,
    Study,
)
from valuescope.studies.readout_check.ablation import ablation_step
from valuescope.studies.readout_check.config import ReadoutCheckConfig
from valuescope.studies.readout_check.direction import direction_step
from valuescope.studies.readout_check.metrics import METRICS
from valuescope.studies.readout_check.ratings import mean_at, pair_means, ratings_step

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class ReadoutCheck(Study[ReadoutCheckConfig]):
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
    metric_specs = METRICS
    metrics = metric_descriptions(METRICS)
    tables: ClassVar[dict[str, str]] = {
        "ratings": "Expected 1-7 rating and option mass per statement and question paraphrase.",
        "layers": "Per read point: pair-grouped cross-validated accuracy of the good-vs-bad direction, "
        "95% CI, permutation p and BH q.",
        "ablation": "Held-out pairs rated before and after ablating the direction, and after random ones.",
        "model_comparison": "Rating gap of each model minus another's, paired by statement pair.",
    }
    headline_figure = "rating_gap"
    figures: ClassVar[dict[str, str]] = {
        "layer_accuracy": "Cross-validated accuracy of the good-vs-bad direction per read point (95% CI); "
        "chance is 0.5; the marker is the read point chosen on the selection half.",
        "rating_gap": "Mean expected rating of good and bad statements per model (95% CI).",
    }

    def steps(self, config: ReadoutCheckConfig) -> list[Step]:
        return [
            Step("ratings", ratings_step, needs="behaviour"),
            Step("direction", direction_step),
            Step("ablation", ablation_step),
        ]

    def compare(self, per_model: Mapping[str, Artifacts], config: ReadoutCheckConfig, seed: int) -> Artifacts:
        models = [m for m, a in per_model.items() if "ratings" in a.tables]
        if len(models) < 2:
            return Artifacts()
        gaps = {}
        for m in models:
            means = pair_means(per_model[m].tables["ratings"].astype({"pair": str}))
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
                    means = pair_means(result.per_model[m].tables["ratings"].astype({"pair": str}))[valence]
                    v = means.to_numpy()
                    est, a, b = stats.bootstrap(mean_at(v), len(v), n_boot=500)
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
