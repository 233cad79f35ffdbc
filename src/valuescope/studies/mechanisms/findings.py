"""What one model's ``mechanisms`` results say in plain words, finding by finding of the reference paper."""

from __future__ import annotations

from typing import Any

Metrics = dict[str, dict[str, Any]]


def _num(m: dict[str, Any] | None, key: str = "estimate") -> float | None:
    value = None if m is None else m.get(key)
    return float(value) if isinstance(value, int | float) else None


def _ci(m: dict[str, Any] | None, digits: int = 2) -> str:
    est, lo, hi, p = (_num(m, k) for k in ("estimate", "ci_low", "ci_high", "p"))
    if est is None:
        return "n/a"
    out = f"{est:.{digits}f}"
    if lo is not None and hi is not None:
        out += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    if p is not None:
        out += ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"
    return out


def _above(m: dict[str, Any] | None, value: float = 0.0) -> bool:
    lo, p = _num(m, "ci_low"), _num(m, "p")
    return lo is not None and lo > value and (p is None or p < 0.05)


def _below(m: dict[str, Any] | None, value: float = 0.0) -> bool:
    hi = _num(m, "ci_high")
    return hi is not None and hi < value


def _verdict(ok: bool, opposite: bool = False) -> str:
    if ok:
        return "reproduced"
    return "reversed here" if opposite else "not reproduced"


def model_findings(metrics: Metrics) -> list[str]:
    """Sentences on one model: one per finding of the reference paper, each ending in whether this model
    reproduces it (a claim needs a CI that excludes the null and, where tested, p < 0.05)."""
    out: list[str] = []
    cos, excess = metrics.get("intrinsic_prompted_cosine"), metrics.get("intrinsic_prompted_cosine_excess")
    ceiling = metrics.get("intrinsic_prompted_reliability_ceiling")
    if cos and _num(cos) is not None:
        shared = _above(cos) and _above(excess)
        out.append(
            f"Shared components: at read point {cos.get('layer')} the intrinsic and prompted vectors "
            "of a value "
            f"have cosine {_ci(cos)} (shuffled-label null), {_ci(excess)} above the cosine between different "
            f"values; {_verdict(shared)}."
        )
        ceil = _num(ceiling)
        if ceil is not None and ceil < 0.2:
            out.append(
                f"Unique components: cannot be judged here: two estimates of the same vector agree only to "
                f"{ceil:.2f} at this sample size (the reliability ceiling), so the vectors are mostly noise; "
                "the full profile has five times the answers."
            )
        elif ceil is not None:
            unique = _below(cos, ceil)
            out.append(
                f"Unique components: the cosine's CI stays below the reliability ceiling of {ceil:.2f} (what "
                f"two estimates of one vector reach at this sample size): {_verdict(unique)}"
                + ("" if unique else " (the conditions look like one shared vector)")
                + "."
            )
    diff = metrics.get("steering_shift_prompted_minus_intrinsic")
    pr, intr, rnd = (metrics.get(f"steering_shift_{k}") for k in ("prompted", "intrinsic", "random"))
    if diff and pr and intr:
        stronger = _above(diff)
        mass = _num(metrics.get("self_rating_option_mass_valuescope"))
        weak = (
            f" (the model puts only {mass:.0%} of its next-token probability on the digits 1-6, so its "
            "self-ratings are a weak readout)"
            if mass is not None and mass < 0.3
            else ""
        )
        out.append(
            f"Steering strength: at matched damage prompted vectors shift the steered value's self-rating by "
            f"{_ci(pr)}, intrinsic vectors by {_ci(intr)}, random vectors by {_ci(rnd)}; prompted "
            "minus intrinsic "
            f"{_ci(diff)}; prompted vectors steer more strongly: {_verdict(stronger, _below(diff))}{weak}."
        )
    d2 = metrics.get("distinct2_intrinsic_minus_prompted")
    if d2:
        diverse = _above(d2)
        out.append(
            "Diversity: Distinct-2 of steered answers, intrinsic "
            f"{_ci(metrics.get('distinct2_intrinsic'), 3)} "
            f"vs prompted {_ci(metrics.get('distinct2_prompted'), 3)} (difference {_ci(d2, 3)}); intrinsic "
            f"vectors give more diverse answers: {_verdict(diverse, _below(d2))}."
        )
    general, specific = (
        metrics.get("steering_general_prompted_only"),
        metrics.get("steering_general_intrinsic_only"),
    )
    if general and specific:
        channel = _above(general) and not _above(specific)
        out.append(
            "Compliance channel: steering with the prompted-only part raises agreement with every "
            "statement by "
            f"{_ci(general)} points (intrinsic-only part {_ci(specific)}); a general compliance channel: "
            f"{_verdict(channel)}."
        )
    fit, human = metrics.get("circumplex_fit_theory"), metrics.get("circumplex_fit_human")
    if fit and _num(fit) is not None:
        net = _above(metrics.get("circumplex_fit_theory_excess_noise")) and _above(
            metrics.get("circumplex_fit_theory_excess_embedding")
        )
        text = (
            f"Circumplex: the value vectors' cosines follow Schwartz's circle with Spearman {_ci(fit)} "
            "(excess over Gaussian-noise residuals "
            f"{_ci(metrics.get('circumplex_fit_theory_excess_noise'))}, "
            f"over sentence embeddings {_ci(metrics.get('circumplex_fit_theory_excess_embedding'))})"
        )
        if human and _num(human) is not None:
            text += f"; with the human value correlations {_ci(human)}"
        out.append(text + f"; a circumplex beyond what the labeller produces: {_verdict(net)}.")
    agree = metrics.get("labeller_agreement")
    if agree and _num(agree) is not None:
        out.append(
            "Labeller check: against ValuePortrait's human-validated tags the labeller reaches AUROC "
            f"{_ci(agree)} "
            "(0.5 = chance); every label above rests on it."
        )
    return out
