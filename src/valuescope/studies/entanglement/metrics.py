"""Every metric ``entanglement`` can emit, declared once: name, meaning, direction and interval kind.

Most come once per non-moral domain (``DOMAINS``): the entanglement of moral goodness with that rating
and its variants (scale direction, log-probability adjustment, held-out frames before and after the
repair), the domain's own discrimination, the moral direction's AUROCs on its items and the count of
read points where the two directions' cosine beats its null; the moral rating's own discrimination,
the agreement between rating variants, the option mass and the repair's damage come once.
"""

from __future__ import annotations

from valuescope.stats.metrics import MetricSpec
from valuescope.studies.entanglement.config import DOMAINS

RATED = {"grammar": "grammaticality", "economic": "deal"}
"""What each domain's rating judges, as the metrics' meanings name it."""
CONTRAST = {"grammar": "Grammatical vs ungrammatical", "economic": "Good vs bad deal"}
"""Each domain's intended contrast (what its discrimination separates)."""


def domain_specs(domain: str) -> tuple[MetricSpec, ...]:
    """The metrics of one non-moral ``domain``."""
    d, rated, contrast = domain.capitalize(), RATED[domain], CONTRAST[domain]
    return (
        MetricSpec(
            f"{domain}_entanglement",
            f"Moral leak into {rated} ratings (d, model minus human norm).",
            "lower",
            "ci",
        ),
        MetricSpec(f"{domain}_discrimination", f"{contrast} on the {rated} rating (d).", "higher", "ci"),
        *(
            MetricSpec(
                f"{domain}_entanglement_{scale}_scale",
                f"{d} entanglement from the {scale}-scale ratings of the paraphrases asked both ways only.",
                "lower",
                "ci",
            )
            for scale in ("normal", "reversed")
        ),
        MetricSpec(
            f"{domain}_entanglement_logprob_adjusted",
            f"{d} entanglement adjusted for item log-probability.",
            "lower",
            "ci",
        ),
        MetricSpec(
            f"{domain}_entanglement_heldout_before",
            f"{d} entanglement on the repair's held-out frames (first paraphrase, normal scale), unedited.",
            "lower",
            "ci",
        ),
        MetricSpec(
            f"{domain}_entanglement_after_repair",
            f"{d} entanglement with the moral direction ablated.",
            "lower",
            "ci",
        ),
        MetricSpec(
            f"{domain}_discrimination_after_repair",
            f"{contrast} on the {rated} rating (d) on the held-out frames, moral direction ablated.",
            "higher",
            "ci",
        ),
        MetricSpec(
            f"random_ablation_{domain}_entanglement",
            f"Change in {domain} entanglement under random ablations "
            "(median, 95% range; p: the repair's change against them).",
            None,
            "ci",
        ),
        MetricSpec(
            f"moral_direction_auroc_{domain}_items",
            f"AUROC of the moral direction (fit on moral-only items) for morally good vs bad {domain} items, "
            "at the repair's read point.",
            None,
            "ci",
        ),
        MetricSpec(
            f"moral_to_{domain}_transfer_auroc",
            f"AUROC of the moral direction (fit on moral-only items) for {contrast.lower()} items, at the "
            "repair's read point.",
            None,
            "ci",
        ),
        MetricSpec(
            f"embedding_moral_to_{domain}_auroc",
            f"AUROC of the moral direction (fit on moral-only items) for {contrast.lower()} items in "
            "all-MiniLM-L6-v2 sentence embeddings.",
            None,
            "ci",
        ),
        MetricSpec(
            f"n_layers_moral_{domain}_cosine_significant",
            f"Read points where the moral and {domain} directions' cosine beats random direction pairs at "
            "FDR 5%.",
            None,
            "none",
        ),
    )


METRICS: tuple[MetricSpec, ...] = (
    *(spec for domain in DOMAINS for spec in domain_specs(domain)),
    MetricSpec("moral_discrimination", "Morally good vs bad on the moral rating (d).", "higher", "ci"),
    MetricSpec(
        "moral_discrimination_heldout_before",
        "Morally good vs bad on the moral rating (d) on the repair's held-out frames, unedited.",
        "higher",
        "ci",
    ),
    MetricSpec(
        "moral_discrimination_after_repair",
        "Morally good vs bad on the moral rating (d) with the moral direction ablated (it should fall).",
        None,
        "ci",
    ),
    MetricSpec(
        "agreement_paraphrase",
        "Agreement of ratings across instruction paraphrases (r).",
        "higher",
        "ci",
    ),
    MetricSpec(
        "agreement_reversal",
        "Agreement of ratings across normal and reversed scales (r).",
        "higher",
        "ci",
    ),
    MetricSpec(
        "option_mass",
        "Probability the next token is one of the options 1-7 (mean over ratings).",
        None,
        "ci",
    ),
    MetricSpec("repair_kl", "Damage of the repair: KL on neutral text.", "lower", "ci"),
    MetricSpec(
        "random_ablation_kl",
        "KL on neutral text of the random ablations (median; interval: their range).",
        "lower",
        "ci",
    ),
    MetricSpec(
        "repair_ppl_ratio",
        "Damage of the repair: perplexity on neutral text, edited / base.",
        "lower",
        "ci",
    ),
)
"""Every metric of the study, per domain first."""
