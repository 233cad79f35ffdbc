"""Every metric ``readout-check`` can emit, declared once: name, meaning, direction and interval kind.

Per model: the rating gap and how well the model answers, the good-vs-bad direction along the read
points, and the rating gap under its ablation against random ablations, with the edit's damage.
Across models: each model's rating gap against the first model's.
"""

from __future__ import annotations

from valuescope.stats.metrics import MetricSpec

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "rating_gap",
        "Mean expected 1-7 rating of good minus bad statements (paired by scene).",
        "higher",
        "ci",
    ),
    MetricSpec(
        "option_mass",
        "Probability mass the model puts on the options 1-7 (low means it barely answers).",
        None,
        "ci",
    ),
    MetricSpec(
        "paraphrase_agreement", "Pearson r of ratings between two question paraphrases.", "higher", "ci"
    ),
    MetricSpec(
        "direction_accuracy",
        "Held-out accuracy of the good-vs-bad direction at the chosen read point.",
        "higher",
        "ci",
    ),
    MetricSpec("n_layers_significant", "Read points whose direction beats chance at FDR 5%.", None, "none"),
    MetricSpec(
        "rating_gap_after_ablation",
        "Rating gap on held-out pairs with the direction ablated.",
        None,
        "ci",
    ),
    MetricSpec("ablation_gap_change", "Change of the rating gap caused by the ablation.", None, "ci"),
    MetricSpec(
        "ablation_gap_change_vs_random",
        "Change in the gap under the ablation minus the median change under variance-matched random "
        "ablations (95% range of that difference; p: rank among them).",
        "lower",
        "ci",
    ),
    MetricSpec("ablation_kl", "Damage of the edit: KL on neutral text.", "lower", "ci"),
    MetricSpec("ablation_ppl_ratio", "Damage of the edit: perplexity ratio on neutral text.", "lower", "ci"),
    MetricSpec(
        "rating_gap_difference",
        "Rating gap of one model minus the first model's, paired by statement pair.",
        None,
        "ci",
    ),
)
"""Every metric of the study: per model in the order of its steps, then across models."""
