"""``mechanisms``: do values a model expresses of its own accord ("intrinsic") and on request
("prompted") share machinery? After Han, Lim, Kong & Jo, "Dual Mechanisms of Value Expression".

Per model: answers to everyday queries without and with a value framing; which values each answer
expresses (a pluggable labeller, checked against ValuePortrait); value vectors from the residual
stream over the answer's own tokens, read without the framing; their shared and unique axes; value
neurons; steering with each kind of vector and scaling value neurons at matched damage, read in the
model's self-ratings; the diversity of steered answers; and the circumplex geometry of the vectors
against Schwartz's circle and human data, net of what the labeller alone produces.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from valuescope.data.advbench import ADVBENCH_FILE
from valuescope.data.valueportrait import VALUEPORTRAIT_HUMANS, VALUEPORTRAIT_RESPONSES
from valuescope.stats.metrics import metric_descriptions
from valuescope.studies.mechanisms.circumplex import circumplex_step
from valuescope.studies.mechanisms.compliance import compliance_step
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.crosslingual import crosslingual_step
from valuescope.studies.mechanisms.diversity import diversity_step
from valuescope.studies.mechanisms.dose_response import dose_response_step
from valuescope.studies.mechanisms.findings import model_findings
from valuescope.studies.mechanisms.metrics import LABELLER, METRICS
from valuescope.studies.mechanisms.neurons import neurons_step
from valuescope.studies.mechanisms.outputs import LABELLED_BY
from valuescope.studies.mechanisms.responses import labeller_instrument, labels_step, responses_step
from valuescope.studies.mechanisms.self_ratings import self_ratings_step
from valuescope.studies.mechanisms.steering import steering_step
from valuescope.studies.mechanisms.vectors import vectors_step
from valuescope.studies.protocol import Artifacts, Result, Step, Study

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Mechanisms", "MechanismsConfig"]


class Mechanisms(Study[MechanismsConfig]):
    name = "mechanisms"
    title = "Value mechanisms: intrinsic vs prompted value expression"
    description = (
        "Do the values a model expresses of its own accord (intrinsic) and when told to prioritise them "
        "(prompted) run through the same internal directions? Value vectors are differences of mean "
        "residuals "
        "over the answer tokens of responses that do and do not express each Schwartz value, read "
        "without the "
        "framing in context, at a read point chosen on half of the queries and reported on the other half. "
        "Their cosine is set against a split-half reliability ceiling, a shuffled-label null and the cosine "
        "between different values. Steering with each kind of vector at matched damage moves the model's "
        "self-ratings; the circumplex geometry of the vectors is compared with Schwartz's circle and with "
        "569 people's value correlations, net of a noise and a sentence-embedding baseline."
    )
    reference = (
        "Han, Lim, Kong & Jo (2025). Dual Mechanisms of Value Expression: Intrinsic vs. Prompted Values in "
        "LLMs."
    )
    Config = MechanismsConfig
    data_metrics: ClassVar[dict[str, tuple[str, ...]]] = {
        VALUEPORTRAIT_RESPONSES: ("labeller_agreement",),
        ADVBENCH_FILE: tuple(f"compliance_jailbreak_shift_{c}" for c in ("prompted_only", "intrinsic_only")),
        VALUEPORTRAIT_HUMANS: (
            "circumplex_fit_human",
            "circumplex_fit_human_excess_noise",
            "circumplex_fit_human_excess_embedding",
        ),
    }
    metric_specs = METRICS
    metrics = metric_descriptions(METRICS)
    tables: ClassVar[dict[str, str]] = {
        "responses": "Every answer: query, condition (intrinsic / prompted), the framed value.",
        "label_counts": "Per condition and value: positives, whether the fallback chose them, framing lift.",
        "labeller_agreement": "Per value: the labeller's AUROC on ValuePortrait's top vs bottom quartile.",
        "vector_cosines": "Per value: intrinsic-prompted cosine, reliability ceiling, shuffled-label range.",
        "response_projections": "Per response: its residual at the read point projected on each value's "
        "pooled "
        "vector fit on the other half of the queries (the atlas reads it).",
        "vector_layers": "Per read point: selection AUROC (selection half), cosine (report half).",
        "circumplex": "Circumplex fit of residual vectors, sentence-embedding and noise baselines.",
        "circumplex_by_vectors": "Circumplex fit of pooled, intrinsic, prompted vectors and shared axes.",
        "neuron_counts": "Value neurons per block, value and kind (shared / intrinsic / prompted).",
        "neuron_overlap": "Jaccard overlap of the neuron sets of every pair of values.",
        "self_ratings": "The unsteered model's rating of every statement.",
        "steering": "Per kind of edit and value: steering shift, circumplex neighbour response.",
        "steering_damage": "Per edit: alpha, KL on neutral text (CI), perplexity ratio, matched or not.",
        "diversity": "Per steering vector and value: Distinct-2 and embedding diversity of the answers.",
        "dose_response": "Per kind of vector and damage level: the steered value's rating gain (CI).",
        "dose_readings": "Every reading of the dose ladder: kind, value, draw, alpha, KL (CI), capped.",
        "compliance": "Per edit (component added at matched damage or ablated, random controls) and task: "
        "instruction-following, jailbreak-compliance and over-refusal rates, their change (CI), "
        "Distinct-2 of harmless answers, KL.",
        "compliance_damage": "Per edit of the compliance step: alpha, KL on neutral text (CI), perplexity "
        "ratio.",
        "compliance_values": "Per value and component (that value's own part added at its steering "
        "strength): "
        "instruction-following rate, its change (CI over instructions), minus the random direction's and p.",
        "compliance_outputs": "Every instruction and harmless-query answer of the compliance step with its "
        "score (AdvBench answers are kept, cut to 40 characters, in the unit's data, not here).",
        "crosslingual": "Per language and English direction: probe AUROC (null range), steering gain, its "
        "excess over random directions and ratio to English, query-profile r, tokens per item.",
    }
    headline_figure = "steering"
    figures: ClassVar[dict[str, str]] = {
        "vector_cosines": "Cosine of each value's intrinsic and prompted vectors (report half), with the "
        "reliability ceiling (tick) and the shuffled-label 95% range (grey).",
        "circumplex": "The ten values placed by the geometry of the model's value vectors (classical MDS of "
        "their cosines) and of human value correlations; lines join Schwartz's circular order.",
        "steering": "Steering shift by kind of edit at matched damage (mean over values, 95% CI).",
        "crosslingual": "Probe transfer (AUROC of the English value vectors) and steering transfer (gain "
        "relative to English) per language, with 95% CIs; English is the reference line.",
        "dose_response": "Rating gain of the steered value against damage (KL on neutral text), per kind "
        "of vector and random directions, with 95% CIs over statements.",
    }

    def steps(self, config: MechanismsConfig) -> list[Step]:
        judge_self = config.labeller == "judge" and config.judge_model is None
        return [
            Step("responses", responses_step, needs="none" if config.corpus else "behaviour"),
            Step("labels", labels_step, needs="behaviour" if judge_self else "none"),
            Step("self_ratings", self_ratings_step, needs="behaviour"),
            Step("vectors", vectors_step),
            Step("circumplex", circumplex_step),
            Step("neurons", neurons_step),
            Step("steering", steering_step),
            Step("dose_response", dose_response_step),
            Step("crosslingual", crosslingual_step),
            Step("compliance", compliance_step),
            Step("diversity", diversity_step),
        ]

    def instruments_used(self, config: MechanismsConfig, artifacts: Artifacts) -> dict[str, str | None]:
        """The labels rest on the head labeller (validated), on another labeller (not validated), or on
        the corpus's own labels (no instrument)."""
        return {LABELLER: labeller_instrument(config, artifacts.data.get(LABELLED_BY.name, config.labeller))}

    def validity_files(self, config: MechanismsConfig) -> dict[str, str]:
        """User-trained heads carry their validity table beside them."""
        if config.labeller != "head" or config.labeller_heads is None:
            return {}
        return {str(labeller_instrument(config, "head")): str(Path(config.labeller_heads) / "validity.csv")}

    def findings(self, result: Result) -> dict[str, list[str]]:
        return {m: model_findings(result.per_model[m].metrics) for m in result.models}

    def make_figures(self, result: Result) -> dict[str, Figure]:
        from valuescope.studies.mechanisms.figures import figures

        return figures(result)
