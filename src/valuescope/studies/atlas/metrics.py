"""Every metric ``atlas`` can emit, declared once: the agreement of methods (multi-trait multi-method),
the side-effects of steering around Schwartz's circle, and (across models) the likeness of their value
geometry."""

from __future__ import annotations

from valuescope.stats.metrics import MetricSpec

LABELLER = "value-labeller"
"""The instrument the labeller method and the value vectors rest on (as its validity table names it)."""

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "mtmm_convergent",
        "Mean correlation over queries of the same value measured by different methods (self-rating in "
        "the query's situation, the labeller on the model's answer, the answer's residual projection).",
        "higher", "ci", LABELLER,
    ),
    MetricSpec(
        "mtmm_discriminant",
        "Mean correlation over queries of different values measured by different methods (lower than the "
        "convergent one where the methods tell the values apart).",
        "lower", "ci", LABELLER,
    ),
    MetricSpec(
        "mtmm_criteria_share",
        "Share of convergent correlations that beat every other-value correlation in their row and "
        "column (Campbell and Fiske's first discriminant criterion).",
        "higher", "ci", LABELLER,
    ),
    MetricSpec(
        "mtmm_convergent_minus_discriminant",
        "Convergent minus discriminant correlation; p against value labels shuffled within method.",
        "higher", "ci", LABELLER,
    ),
    MetricSpec(
        "sidefx_amplitude",
        "Amplitude of the cosine of the circle angle fit to the ten values' self-rating changes when "
        "one value's prompted vector steers (mean over steered values); p against random directions.",
        None, "ci", LABELLER,
    ),
    MetricSpec(
        "sidefx_signed_amplitude",
        "The fitted cosine's part aligned with the steered value (positive: the steered value and its "
        "neighbours rise, its opposites fall, as the circle predicts).",
        "higher", "ci", LABELLER,
    ),
    MetricSpec(
        "sidefx_phase",
        "Where the fitted cosine peaks, in degrees from the steered value on the circle (circular mean).",
        None, "ci", LABELLER,
    ),
    MetricSpec(
        "sidefx_r2",
        "Share of the variance of the ten changes the cosine explains (mean over steered values).",
        "higher", "ci", LABELLER,
    ),
    MetricSpec(
        "sidefx_circularity",
        "Spearman correlation of the steered-by-changed value matrix with the circle's cosine of their "
        "angle; ValuePortrait's people give their value correlations' own figure in the note.",
        "higher", "ci", LABELLER,
    ),
    MetricSpec(
        "rsa_value_geometry",
        "Spearman correlation of two models' 45 value-vector cosines (mean over model pairs); p from "
        "shuffling one model's value labels.",
        None, "ci", LABELLER,
    ),
)  # fmt: skip
