"""Every metric ``indifference`` can emit, declared once: name, meaning, direction and interval kind.

The four diagnostics (five metrics, ``DIAGNOSTIC_METRICS``) on half B at the read point chosen on half
A, each again with the geometric repair applied; the repair's controls for the two diagnostics it is
tested on (``CONTROLLED``) and its damage; the sparse autoencoder; the judged win rate; the item counts.
"""

from __future__ import annotations

from valuescope.stats.metrics import MetricSpec

DIAGNOSTIC_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "virtue_vice_cosine",
        "Cosine of neutral-centred virtue and vice prototypes (mean over foundations).",
        "lower",
        "ci",
    ),
    MetricSpec(
        "typicality_spearman",
        "Spearman of held-out items' prototype projections with their typicality.",
        "higher",
        "ci",
    ),
    MetricSpec("ari_valence", "ARI of k-means (k=3) against virtue / vice / neutral.", "higher", "ci"),
    MetricSpec(
        "ari_foundation", "ARI of k-means (k=5) on moral items against their foundation.", "higher", "ci"
    ),
    MetricSpec(
        "probe_r2", "Out-of-fold R² of a ridge probe to the 10-dimensional moral vectors.", "higher", "ci"
    ),
)
"""The diagnostics (``DIAGNOSTICS``), each with the direction in which it is better."""
CONTROLLED = {
    "virtue_vice_cosine": "the virtue-vice cosine",
    "typicality_spearman": "the typicality Spearman",
}
"""The diagnostics the repair is set against its controls on, as the meanings name them."""

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("n_items", "Items read (moral and neutral).", None, "none"),
    MetricSpec("n_moral_lemmas", "Moral lemmas in the ground truth used.", None, "none"),
    *DIAGNOSTIC_METRICS,
    MetricSpec("sae_fve", "Fraction of held-out variance the SAE explains.", "higher", "none"),
    MetricSpec("sae_l0", "Mean number of active SAE features per token.", None, "none"),
    MetricSpec("n_moral_features", "SAE features selective for one foundation x pole.", None, "none"),
    *(
        MetricSpec(
            f"{spec.name}_after_repair",
            f"{spec.name} on half B with the geometric repair applied.",
            spec.better,
            "ci",
        )
        for spec in DIAGNOSTIC_METRICS
    ),
    *(
        MetricSpec(
            f"random_edit_{name}",
            f"Change in {label} under random-subspace edits matched on the repair's displacement "
            "(median, 95% range; p: the repair against them).",
            None,
            "ci",
        )
        for name, label in CONTROLLED.items()
    ),
    *(
        MetricSpec(
            f"permuted_target_{name}",
            f"Change in {label} under refits to targets permuted across lemmas "
            "(median, 95% range; p: the repair against them).",
            None,
            "ci",
        )
        for name, label in CONTROLLED.items()
    ),
    MetricSpec("repair_kl", "KL divergence the repair causes on neutral reference text.", "lower", "ci"),
    MetricSpec(
        "judged_win_rate",
        "Share of adversarial prompts where the judge prefers the repaired answer.",
        "higher",
        "ci",
    ),
)
"""Every metric of the study, in the order of its steps."""
