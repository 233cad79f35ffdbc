"""``indifference``: does a model separate virtue from vice, foundation from foundation, and typical
from atypical cases? After Li, Teng & Wang, "Mechanistic Origin of Moral Indifference in Language Models".

Per model: graded moral ground truth (MoralStrength words or Social-Chem-101 actions, each with a
10-dimensional foundation x virtue/vice vector and a typicality) beside frequency- and length-matched
neutral items; four diagnostics of the residual stream at every read point (categorical, gradient,
structural, dimensional) with a shuffled-label null, the read point chosen on half of the lemmas and
reported on the other half; a sparse autoencoder and the moral features it holds; a geometric repair
of those features' similarity structure, against random edits of equal effect and with its damage; and
a gated judge comparing answers with and without the repair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from valuescope.stats.metrics import metric_descriptions
from valuescope.studies.indifference.behaviour import behaviour_step
from valuescope.studies.indifference.config import DIAGNOSTICS, IndifferenceConfig
from valuescope.studies.indifference.diagnostics import PUBLISHED, diagnostics_step
from valuescope.studies.indifference.features import sae_step
from valuescope.studies.indifference.findings import model_findings
from valuescope.studies.indifference.items import items_step
from valuescope.studies.indifference.metrics import METRICS
from valuescope.studies.indifference.repair import repair_step
from valuescope.studies.protocol import Artifacts, Result, Step, Study

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Indifference", "IndifferenceConfig"]


class Indifference(Study[IndifferenceConfig]):
    name = "indifference"
    title = "Moral indifference: virtue vs vice, typical vs atypical"
    description = (
        "Does the model's residual stream separate virtue from vice within each moral foundation, the five "
        "foundations from each other, and typical from atypical cases, against graded human ground truth? "
        "Prototypes are centred on frequency- and length-matched neutral items; every split keeps a lemma on "
        "one side; the read point is chosen on half A of the lemmas and all four diagnostics are reported on "
        "half B with jackknife intervals over lemma blocks and a shuffled-label null. A sparse autoencoder "
        "at that read point isolates moral features; a linear edit in their span rebuilds their similarity "
        "structure, set against random edits of the same effect and refits to permuted targets, with its "
        "damage on neutral text, and a gated pairwise judge."
    )
    reference = "Li, Teng & Wang (2026). Mechanistic Origin of Moral Indifference in Language Models."
    Config = IndifferenceConfig
    metric_specs = METRICS
    metrics = metric_descriptions(METRICS)
    tables: ClassVar[dict[str, str]] = {
        "items": "Every item: text, lemma, kind, foundation, typicality, 10-d vector, half (A / B).",
        "load_report": "Rows of the ground-truth file kept and dropped, by reason.",
        "item_counts": "Items and lemmas per half and kind.",
        "form_balance": "Frequency (Zipf) and length of moral vs neutral words, with KS p-values.",
        "diagnostics": "The four diagnostics on half B at the chosen read point, with the published figures.",
        "layer_curves": "Every diagnostic and its shuffled-label null at every read point, per half.",
        "foundation_cosines": "Virtue-vice cosine per foundation at the chosen read point (half B).",
        "foundation_typicality": "Typicality Spearman per foundation at the chosen read point.",
        "sae_training": "The SAE: source, tokens trained on, reconstruction error, FVE, L0, dead features.",
        "moral_features": "Selected moral features: class, AUROC, monosemanticity.",
        "feature_top_items": "Top-activating items of every moral feature (half A).",
        "repair": "Each diagnostic before and after the repair (paired change) and the range its controls "
        "reach, with the repair's p and verdict against each kind of control.",
        "repair_fit": "The repair: subspace size, edit norm, structure loss before / after, damage.",
        "random_edits": "Every control edit: kind, displacement of half B's rows, diagnostics, KL.",
        "judge_gate": "The judge's position-swap consistency and accuracy on shipped pairs.",
        "judgements": "Every judged pair of answers (repaired first), both orders.",
        "model_comparison": "Every model's diagnostics beside the published ones (not directly comparable).",
    }
    headline_figure = "repair"
    figures: ClassVar[dict[str, str]] = {
        "layer_curves": "The four diagnostics over read points on half B (solid) with the shuffled-label "
        "null (dotted); the vertical line marks the read point chosen on half A.",
        "repair": "Each diagnostic before and after the repair (95% CI), with the 95% range that random "
        "edits of equal displacement reach (grey).",
    }

    def steps(self, config: IndifferenceConfig) -> list[Step]:
        return [
            Step("items", items_step, needs="none"),
            Step("diagnostics", diagnostics_step),
            Step("sae", sae_step),
            Step("repair", repair_step),
            Step("behaviour", behaviour_step),
        ]

    def compare(self, per_model: Mapping[str, Artifacts], config: IndifferenceConfig, seed: int) -> Artifacts:
        rows: list[dict[str, Any]] = []
        for model, art in per_model.items():
            for name in DIAGNOSTICS:
                entry = art.metrics.get(name)
                if entry is None or entry.get("estimate") is None:
                    continue
                after = art.metrics.get(f"{name}_after_repair", {})
                rows.append(
                    {
                        "model": model,
                        "metric": name,
                        "estimate": entry["estimate"],
                        "ci_low": entry["ci_low"],
                        "ci_high": entry["ci_high"],
                        "layer": entry.get("layer"),
                        "after_repair": after.get("estimate"),
                        "source": "this run",
                    }
                )
        for name in DIAGNOSTICS:
            rows.append(
                {
                    "model": "23 models (Li, Teng & Wang 2026)",
                    "metric": name,
                    "published": PUBLISHED[name],
                    "source": "published; other ground truth, full-precision models: not directly comparable",
                }
            )
        return Artifacts(tables={"model_comparison": pd.DataFrame(rows)})

    def findings(self, result: Result) -> dict[str, list[str]]:
        return {m: model_findings(result.per_model[m]) for m in result.models}

    def make_figures(self, result: Result) -> dict[str, Figure]:
        from valuescope.studies.indifference.figures import figures

        return figures(result)
