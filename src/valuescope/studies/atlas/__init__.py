"""``atlas``: do a model's words and internals agree, what does steering one value do to the others, and
how do models compare? It reads the mechanisms study's units (run first for the same models) and adds only
what they lack: ratings in each query's situation, a second steering strength, and the statistics.

Per model: a multi-trait multi-method matrix of the ten values over everyday queries (self-ratings in the
query's situation, the labeller on the model's own answers, residual projections on the value vectors)
with Campbell and Fiske's criteria (``agreement``); the side-effects of steering each value on all ten,
fit with a cosine of Schwartz's circle against random directions, with their cost (``side_effects``).
Across models: the likeness of their value-vector geometries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from valuescope.data.valueportrait import VALUEPORTRAIT_HUMANS
from valuescope.stats.metrics import ALL_MODELS, metric_descriptions
from valuescope.studies.atlas.agreement import agreement_step
from valuescope.studies.atlas.config import AtlasConfig
from valuescope.studies.atlas.findings import across_models, model_findings
from valuescope.studies.atlas.geometry import compare_geometry
from valuescope.studies.atlas.metrics import LABELLER, METRICS
from valuescope.studies.atlas.outputs import MECHANISMS
from valuescope.studies.atlas.side_effects import side_effects_step
from valuescope.studies.protocol import Artifacts, Result, Step, Study

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Atlas", "AtlasConfig"]


class Atlas(Study[AtlasConfig]):
    name = "atlas"
    title = "Value atlas: words against internals, steering's side-effects, models side by side"
    description = (
        "Reads the mechanisms study's units and asks what no single study does. Do the model's self-ratings, "
        "the labeller's reading of its answers and its residual projections name the same values for the "
        "same queries (a multi-trait multi-method matrix with Campbell and Fiske's criteria, CIs over "
        "queries, a null that shuffles value labels within method)? When one value is steered, do the "
        "other nine move as Schwartz's circle predicts (a cosine of the circle angle, against random "
        "directions, at two strengths, with the damage)? And how alike are the models' value geometries?"
    )
    reference = (
        "Campbell & Fiske (1959). Convergent and discriminant validation by the multitrait-multimethod "
        "matrix. Schwartz (1992). Universals in the content and structure of values."
    )
    Config = AtlasConfig
    reads: ClassVar[tuple[str, ...]] = (MECHANISMS,)
    metric_specs = METRICS
    metrics = metric_descriptions(METRICS)
    data_metrics: ClassVar[dict[str, tuple[str, ...]]] = {VALUEPORTRAIT_HUMANS: ()}
    tables: ClassVar[dict[str, str]] = {
        "mtmm_criteria": "Campbell and Fiske's criteria: estimate, 95% CI, permutation p, null median.",
        "mtmm_convergent": "Per pair of methods and value: the convergent correlation over queries.",
        "mtmm_matrix": "Multi-trait multi-method correlations, long form: (method, value) x (method, value).",
        "mtmm_scores": "Every query's score on every value by every method.",
        "methods": "The methods of the agreement matrix: used, or why not.",
        "value_profile": "Per value: the mean unsteered self-rating of its statements, 95% CI.",
        "value_geometry": "The cosines of the ten pooled value vectors at the read point.",
        "sidefx": "Per steered value and strength (and the random directions): the cosine fit "
        "(amplitude, phase, R²) and the ten per-value rating changes.",
        "sidefx_cost": "Per steered value and strength: alpha, KL and perplexity ratio on neutral text, the "
        "steered value's own change, the fit, and answer length steered vs unsteered.",
        "rsa_pairs": "Per pair of models: Spearman of their value-vector cosines.",
    }
    headline_figure = "sidefx"
    figures: ClassVar[dict[str, str]] = {
        "value_profiles": "Each model's self-rating per value around Schwartz's circle, with 95% CIs.",
        "mtmm": "The agreement matrix per model: values within method blocks; the validity diagonals sit "
        "in the off-diagonal blocks.",
        "sidefx": "The change of every value when one is steered, by its step round the circle from the "
        "steered value (mean over steered values, centred per edit).",
        "value_geometry": "One model's 45 value-vector cosines against another's (up to three pairs); with "
        "three or more models, their dendrogram by the likeness of those cosines.",
    }

    def steps(self, config: AtlasConfig) -> list[Step]:
        return [
            Step("agreement", agreement_step, needs="behaviour"),
            Step("side_effects", side_effects_step),
        ]

    def compare(self, per_model: Mapping[str, Artifacts], config: AtlasConfig, seed: int) -> Artifacts:
        return compare_geometry(per_model, config, seed)

    def instruments_used(self, config: AtlasConfig, artifacts: Artifacts) -> dict[str, str | None]:
        """The labeller the mechanisms study's labels came from (the agreement step records it)."""
        return {LABELLER: artifacts.data.get("labeller_instrument", LABELLER)}

    def findings(self, result: Result) -> dict[str, list[str]]:
        out = {m: model_findings(result.per_model[m].metrics) for m in result.models}
        if ALL_MODELS in result.per_model:
            out[ALL_MODELS] = across_models(result.per_model[ALL_MODELS].metrics)
        return {m: s for m, s in out.items() if s}

    def make_figures(self, result: Result) -> dict[str, Figure]:
        from valuescope.studies.atlas.figures import figures

        return figures(result)
