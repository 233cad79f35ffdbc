"""Every metric ``mechanisms`` can emit, declared once: name, meaning, direction and interval kind.

In the order of the steps: the responses and their labels, the unsteered self-ratings (one option
mass per questionnaire), the intrinsic-prompted cross fit of the value vectors, the circumplex fit (per
reference, net of the noise and embedding baselines), the value neurons, steering (a shift per kind
of edit, ``STEERING``, with the neighbour response, PVQ40 and general-rise variants), and the
diversity of steered answers (per measure and kind of vector).
"""

from __future__ import annotations

from dataclasses import replace

from valuescope.data.valuebench import PVQ40
from valuescope.stats.metrics import MetricSpec
from valuescope.studies.mechanisms.stimuli import QUESTIONNAIRE

STEERING = {
    "intrinsic": "intrinsic vectors",
    "prompted": "prompted vectors",
    "intrinsic_only": "intrinsic vectors orthogonalised against the prompted ones",
    "prompted_only": "prompted vectors orthogonalised against the intrinsic ones",
    "shared": "shared axes",
    "random": "random directions drawn from the residual covariance, at the prompted vectors' alpha",
    "random_matched": "random directions drawn from the residual covariance, at alpha matched on damage",
    "neurons": "the value's neurons scaled up",
    "random_neurons": "as many random neurons per block as the value has, scaled up the same",
}
"""Every kind of steering edit with a ``steering_shift_<kind>`` metric, as the meanings name it."""
REFERENCES = {"theory": "Schwartz's circle", "human": "human value correlations"}
"""The circumplex references, as the meanings name them."""
DIVERSITY = {
    "distinct2": "Distinct-2",
    "embedding_diversity": "Mean pairwise cosine distance of sentence embeddings",
}
"""The diversity measures of steered answers, as the meanings name them."""


def _circumplex(reference: str) -> tuple[MetricSpec, ...]:
    """The fit of the value vectors' cosines to ``reference`` and its excess over the two baselines."""
    fit = f"Spearman of the vectors' cosines with {REFERENCES[reference]}"
    return (
        MetricSpec(f"circumplex_fit_{reference}", f"{fit}.", "higher", "ci"),
        MetricSpec(
            f"circumplex_fit_{reference}_excess_noise",
            f"{fit}, minus the mean fit of Gaussian-noise residuals labelled the same way.",
            "higher",
            "ci",
        ),
        MetricSpec(
            f"circumplex_fit_{reference}_excess_embedding",
            f"{fit}, minus the fit of sentence embeddings of the responses (paired over queries).",
            "higher",
            "ci",
        ),
    )


STEERING_METRICS: tuple[MetricSpec, ...] = (
    *(
        MetricSpec(
            f"steering_shift_{kind}", f"Self-rating shift of the steered value, {edit}.", "higher", "ci"
        )
        for kind, edit in STEERING.items()
    ),
    *(
        MetricSpec(
            f"steering_neighbour_response_{kind}",
            "Pearson r of the other values' self-rating change with their closeness on the circle to the "
            f"steered value, {STEERING[kind]}.",
            "higher",
            "ci",
        )
        for kind in ("intrinsic", "prompted", "shared")
    ),
    *(
        MetricSpec(
            f"steering_shift_{kind}_pvq40",
            f"Self-rating shift of the steered value on PVQ40's statements, {STEERING[kind]}.",
            "higher",
            "ci",
        )
        for kind in ("intrinsic", "prompted")
    ),
    *(
        MetricSpec(
            f"steering_general_{kind}",
            f"Mean self-rating change over every statement, {STEERING[kind]} (a rise of all is compliance).",
            None,
            "ci",
        )
        for kind in ("intrinsic_only", "prompted_only")
    ),
    MetricSpec(
        "steering_shift_prompted_minus_intrinsic",
        "Steering shift of the prompted vectors minus that of the intrinsic vectors, paired over values.",
        None,
        "ci",
    ),
)
"""Each kind of edit's steering shift, and the variants read for some kinds."""


DOSE_METRICS: tuple[MetricSpec, ...] = (
    *(
        MetricSpec(
            f"dose_gain_{kind}",
            f"Rating gain of the steered value under {edit} at the highest damage level every kind reached.",
            "higher",
            "ci",
        )
        for kind, edit in (
            ("intrinsic", "intrinsic vectors"),
            ("prompted", "prompted vectors"),
            ("shared", "shared axes"),
            ("random", "random directions matched on damage"),
        )
    ),
    *(
        MetricSpec(
            f"dose_excess_{kind}",
            f"Dose-response gain of {kind} vectors minus random directions' at equal damage, paired over "
            "values.",
            "higher",
            "ci",
        )
        for kind in ("intrinsic", "prompted", "shared")
    ),
    MetricSpec(
        "dose_prompted_minus_intrinsic",
        "Dose-response gain of prompted minus intrinsic vectors at equal damage, paired over values.",
        None,
        "ci",
    ),
)
"""The dose-response curves compared at equal damage."""


LANGUAGE_NAMES = (("zh", "Chinese"), ("es", "Spanish"), ("fr", "French"), ("ko", "Korean"))
"""The languages English value vectors are read and steered in."""
CROSSLINGUAL_METRICS: tuple[MetricSpec, ...] = (
    *(
        MetricSpec(
            f"crosslingual_probe_auroc_{lang}",
            f"Macro AUROC of the English value vectors separating each value's {name} statements from the "
            "rest.",
            "higher",
            "ci",
        )
        for lang, name in (
            ("en", "English"),
            ("zh", "Chinese"),
            ("es", "Spanish"),
            ("fr", "French"),
            ("ko", "Korean"),
        )
    ),
    *(
        MetricSpec(
            f"crosslingual_steering_ratio_{lang}",
            f"Gain of the steered value on {name} statements / on English ones, under the English prompted "
            "vectors.",
            None,
            "ci",
        )
        for lang, name in LANGUAGE_NAMES
    ),
)
"""Probe and steering transfer of English value vectors to other languages."""


COMPLIANCE_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(
        f"compliance_{task}_shift_{part}",
        f"Change in the {label} when the pooled {part.replace('_', '-')} component is added at matched "
        "damage.",
        None,
        "ci",
    )
    for task, label in (
        ("instruction", "instruction-following rate"),
        ("jailbreak", "AdvBench jailbreak compliance rate"),
        ("overrefusal", "over-refusal rate on harmless queries"),
    )
    for part in ("prompted_only", "intrinsic_only")
)
"""The compliance channel: what adding each condition's own part of the value vectors does to
instruction following, jailbreak compliance and over-refusal."""


def _diversity(measure: str) -> tuple[MetricSpec, ...]:
    """One diversity measure of the answers steered with each kind of vector, and their difference."""
    return (
        *(
            MetricSpec(
                f"{measure}_{kind}",
                f"{DIVERSITY[measure]} of answers steered with {kind} vectors.",
                "higher",
                "ci",
            )
            for kind in ("intrinsic", "prompted")
        ),
        MetricSpec(
            f"{measure}_intrinsic_minus_prompted",
            f"{DIVERSITY[measure]} of answers steered with intrinsic minus prompted vectors, paired over "
            "values.",
            None,
            "ci",
        ),
    )


_ALL: tuple[MetricSpec, ...] = (
    MetricSpec("n_responses", "Non-empty responses kept (intrinsic and prompted).", None, "none"),
    MetricSpec(
        "n_label_fallbacks",
        "Value x condition cells whose positives are their top-scoring responses (too few passed the "
        "threshold).",
        None,
        "none",
    ),
    MetricSpec(
        "framing_label_lift",
        "How much more often a prompted response is labelled with its framed value than with others' "
        "(mean over values).",
        "higher",
        "ci",
    ),
    MetricSpec(
        "labeller_agreement",
        "AUROC of the labeller against ValuePortrait's human-validated tags.",
        "higher",
        "ci",
    ),
    *(
        MetricSpec(
            f"self_rating_option_mass_{questionnaire}",
            f"Probability that the answer to a {questionnaire} statement is one of 1-6 (unsteered).",
            None,
            "ci",
        )
        for questionnaire in (QUESTIONNAIRE, PVQ40)
    ),
    MetricSpec(
        "intrinsic_prompted_cosine",
        "Cosine of intrinsic and prompted value vectors (mean over values).",
        "higher",
        "ci",
    ),
    MetricSpec(
        "intrinsic_prompted_cosine_excess",
        "Intrinsic-prompted cosine minus the cosine between different values' vectors.",
        "higher",
        "ci",
    ),
    MetricSpec(
        "intrinsic_prompted_reliability_ceiling",
        "The cosine two estimates of one vector would reach.",
        None,
        "ci",
    ),
    MetricSpec(
        "intrinsic_prompted_cosine_disattenuated",
        "Intrinsic-prompted cosine / reliability ceiling, mean over values (1: one shared vector).",
        None,
        "ci",
    ),
    MetricSpec(
        "intrinsic_prompted_cross_value_cosine",
        "Mean cosine of one value's intrinsic vector with another value's prompted vector.",
        None,
        "ci",
    ),
    *(spec for reference in REFERENCES for spec in _circumplex(reference)),
    MetricSpec(
        "value_neurons_shared_fraction",
        "Share of value neurons aligned with the shared axis.",
        None,
        "ci",
    ),
    MetricSpec(
        "value_neurons_overlap",
        "Mean Jaccard overlap of two different values' neuron sets (interval: min-max over pairs).",
        None,
        "ci",
    ),
    *STEERING_METRICS,
    *DOSE_METRICS,
    *CROSSLINGUAL_METRICS,
    *COMPLIANCE_METRICS,
    *(spec for measure in DIVERSITY for spec in _diversity(measure)),
)
LABELLER = "value-labeller"
"""The instrument that labels the responses: every metric computed from the labels rests on it."""
LABEL_FREE = frozenset(
    {"n_responses", "n_label_fallbacks", "labeller_agreement", "steering_shift_random_matched"}
    | {"dose_gain_random"}
    | {f"self_rating_option_mass_{q}" for q in (QUESTIONNAIRE, PVQ40)}
)
"""Metrics that do not rest on the labels: the counts, the labeller's own check, the unsteered
self-ratings and random directions at damage-matched strength."""
METRICS: tuple[MetricSpec, ...] = tuple(
    spec if spec.name in LABEL_FREE else replace(spec, instrument=LABELLER) for spec in _ALL
)
"""Every metric of the study, in the order of its steps (those computed from the labels name the
labeller as their instrument)."""
