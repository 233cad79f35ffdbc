"""What one model's ``mechanisms`` results say in plain words, finding by finding of the reference paper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from valuescope.stats.metrics import BELOW_GATE, field_of, gate_note, interval_above, with_interval

Metrics = dict[str, dict[str, Any]]


_num = field_of
_ci = with_interval
_above = interval_above


def _below(m: dict[str, Any] | None, value: float = 0.0) -> bool:
    hi = _num(m, "ci_high")
    return hi is not None and hi < value


def _verdict(ok: bool, opposite: bool = False) -> str:
    if ok:
        return "reproduced"
    return "reversed here" if opposite else "not reproduced"


def model_findings(metrics: Metrics) -> list[str]:
    """Sentences on one model: one per finding of the reference paper, each ending in whether this model
    reproduces it (a claim needs a CI that excludes the null and, where tested, p < 0.05). A finding
    whose metrics rest on a labeller below its validity gate says so instead of giving its result."""
    out, told = [], False
    for topic, write, rests_on in FINDINGS:
        note = next((n for name in rests_on if (n := gate_note(metrics.get(name)))), None)
        if note is not None:
            out.append(
                f"{topic}: not reported as a result: " + (f"{BELOW_GATE} (as above)." if told else f"{note}.")
            )
            told = True
        elif (sentence := write(metrics)) is not None:
            out.append(f"{topic}: {sentence}")
    return out


def _shared_components(metrics: Metrics) -> str | None:
    """Whether a value's intrinsic and prompted vectors align beyond shuffled labels and other values."""
    cos, excess = metrics.get("intrinsic_prompted_cosine"), metrics.get("intrinsic_prompted_cosine_excess")
    if not (cos and _num(cos) is not None):
        return None
    shared = _above(cos) and _above(excess)
    return (
        f"At read point {cos.get('layer')} the intrinsic and prompted vectors of a value "
        f"have cosine {_ci(cos)} (shuffled-label null), {_ci(excess)} above the cosine between different "
        f"values; {_verdict(shared)}."
    )


def _unique_components(metrics: Metrics) -> str | None:
    """Whether the cosine stays below the reliability ceiling (each condition has a part of its own)."""
    cos = metrics.get("intrinsic_prompted_cosine")
    ceil = _num(metrics.get("intrinsic_prompted_reliability_ceiling"))
    if not (cos and _num(cos) is not None) or ceil is None:
        return None
    if ceil < 0.2:
        return (
            f"Cannot be judged here: two estimates of the same vector agree only to "
            f"{ceil:.2f} at this sample size (the reliability ceiling), so the vectors are mostly noise; "
            "the full profile has five times the answers."
        )
    unique = _below(cos, ceil)
    return (
        f"The cosine's CI stays below the reliability ceiling of {ceil:.2f} (what "
        f"two estimates of one vector reach at this sample size): {_verdict(unique)}"
        + ("" if unique else " (the conditions look like one shared vector)")
        + "."
    )


def _steering_strength(metrics: Metrics) -> str | None:
    """Whether prompted vectors steer the self-ratings more than intrinsic ones at matched damage."""
    diff = metrics.get("steering_shift_prompted_minus_intrinsic")
    pr, intr, rnd = (metrics.get(f"steering_shift_{k}") for k in ("prompted", "intrinsic", "random"))
    if not (diff and pr and intr):
        return None
    mass = _num(metrics.get("self_rating_option_mass_valuescope"))
    weak = (
        f" (the model puts only {mass:.0%} of its next-token probability on the digits 1-6, so its "
        "self-ratings are a weak readout)"
        if mass is not None and mass < 0.3
        else ""
    )
    verdict = _verdict(_above(diff), _below(diff))
    return (
        f"At matched damage prompted vectors shift the steered value's self-rating by "
        f"{_ci(pr)}, intrinsic vectors by {_ci(intr)}, random vectors by {_ci(rnd)}; prompted minus "
        f"intrinsic {_ci(diff)}; prompted vectors steer more strongly: {verdict}{weak}."
    )


def _dose_response(metrics: Metrics) -> str | None:
    """The steered value's gain at equal damage along the dose ladder, against random directions, and
    whether anything moved within the damage budget."""
    gains = {k: metrics.get(f"dose_gain_{k}") for k in ("prompted", "intrinsic", "shared", "random")}
    diff = metrics.get("dose_prompted_minus_intrinsic")
    if not (diff and gains["prompted"]):
        return None
    if _num(gains["prompted"]) is None:
        return f"Not computable: {gains['prompted'].get('note')}."
    note = str(gains["prompted"].get("note") or "")
    level = note[note.find("mean KL") :].split(" on ")[0] if "mean KL" in note else "equal damage"
    still = "no value vector moved" in note
    excess = metrics.get("dose_excess_prompted")
    verdict = _verdict(_above(diff), _below(diff))
    text = (
        f"On the dose ladder, at {level}, the steered value's self-rating gains "
        f"{_ci(gains['prompted'])} under prompted vectors, {_ci(gains['intrinsic'])} under "
        f"intrinsic ones and {_ci(gains['random'])} under random directions matched on damage "
        f"(prompted minus random {_ci(excess)}); prompted minus intrinsic {_ci(diff)}; prompted "
        f"vectors steer more strongly: {verdict}"
    )
    if still:
        text += "; " + note[note.find("no value vector moved") :]
    return text + "."


def _diversity(metrics: Metrics) -> str | None:
    """Whether answers steered with intrinsic vectors are more diverse than with prompted ones."""
    d2 = metrics.get("distinct2_intrinsic_minus_prompted")
    if not d2:
        return None
    return (
        f"Distinct-2 of steered answers, intrinsic {_ci(metrics.get('distinct2_intrinsic'), 3)} "
        f"vs prompted {_ci(metrics.get('distinct2_prompted'), 3)} (difference {_ci(d2, 3)}); intrinsic "
        f"vectors give more diverse answers: {_verdict(_above(d2), _below(d2))}."
    )


def _compliance_channel(metrics: Metrics) -> str | None:
    """Whether the prompted-only part raises agreement with every statement and the intrinsic-only not."""
    general = metrics.get("steering_general_prompted_only")
    specific = metrics.get("steering_general_intrinsic_only")
    if not (general and specific):
        return None
    channel = _above(general) and not _above(specific)
    return (
        "Steering with the prompted-only part raises agreement with every statement by "
        f"{_ci(general)} points (intrinsic-only part {_ci(specific)}); a general compliance channel: "
        f"{_verdict(channel)}."
    )


LANGS = (("zh", "Chinese"), ("es", "Spanish"), ("fr", "French"), ("ko", "Korean"))


def _crosslingual(metrics: Metrics) -> str | None:
    """Whether English value vectors read (probe) and steer the same values in the other languages."""
    en = metrics.get("crosslingual_probe_auroc_en")
    if not (en and _num(en) is not None):
        return None
    probes = [(name, metrics.get(f"crosslingual_probe_auroc_{lang}")) for lang, name in LANGS]
    read = [name for name, m in probes if _above(m, 0.5)]
    ratios = ", ".join(
        f"{name} {_ci(metrics.get(f'crosslingual_steering_ratio_{lang}'))}" for lang, name in LANGS
    )
    return (
        f"English value vectors separate each value's statements at AUROC {_ci(en)} in English and "
        + ", ".join(f"{name} {_ci(m)}" for name, m in probes)
        + " (p against random directions); they transfer beyond chance to "
        + (", ".join(read) or "no language")
        + f"; steering gain relative to English: {ratios}. The reference paper finds the shared value "
        f"mechanisms generalise across languages: {_verdict(len(read) == len(LANGS))} here."
    )


def _compliance(metrics: Metrics) -> str | None:
    """Whether the prompted-only part raises instruction following (and jailbreak compliance) beyond a
    random direction at the same damage, and the intrinsic-only part does not."""
    inst = metrics.get("compliance_instruction_shift_prompted_only")
    if not (inst and _num(inst) is not None):
        return None
    parts = []
    for part, label in (("prompted_only", "prompted-only"), ("intrinsic_only", "intrinsic-only")):
        cells = ", ".join(
            f"{task} {_ci(metrics.get(f'compliance_{task}_shift_{part}'))}"
            for task in ("instruction", "jailbreak", "overrefusal")
        )
        parts.append(f"adding the {label} part changes the rates by {cells}")
    held = _above(inst) and not _above(metrics.get("compliance_instruction_shift_intrinsic_only"))
    return (
        "; ".join(parts)
        + " (p: against a random direction at the same damage). The reference paper finds the prompted-only "
        f"part strengthens instruction following, even into jailbreaks: {_verdict(held, _below(inst))} here."
    )


def _circumplex(metrics: Metrics) -> str | None:
    """Whether the vectors' cosines follow Schwartz's circle beyond the noise and embedding baselines."""
    fit, human = metrics.get("circumplex_fit_theory"), metrics.get("circumplex_fit_human")
    if not (fit and _num(fit) is not None):
        return None
    noise = metrics.get("circumplex_fit_theory_excess_noise")
    embedding = metrics.get("circumplex_fit_theory_excess_embedding")
    text = (
        f"The value vectors' cosines follow Schwartz's circle with Spearman {_ci(fit)} "
        f"(excess over Gaussian-noise residuals {_ci(noise)}, over sentence embeddings {_ci(embedding)})"
    )
    if human and _num(human) is not None:
        text += f"; with the human value correlations {_ci(human)}"
    net = _above(noise) and _above(embedding)
    return text + f"; a circumplex beyond what the labeller produces: {_verdict(net)}."


def _labeller_check(metrics: Metrics) -> str | None:
    """The labeller's agreement with ValuePortrait's human-validated tags."""
    agree = metrics.get("labeller_agreement")
    if not (agree and _num(agree) is not None):
        return None
    return (
        "Against ValuePortrait's human-validated tags the labeller reaches AUROC "
        f"{_ci(agree)} (0.5 = chance); every label above rests on it."
    )


FINDINGS: tuple[tuple[str, Callable[[Metrics], str | None], tuple[str, ...]], ...] = (
    ("Shared components", _shared_components, ("intrinsic_prompted_cosine",)),
    ("Unique components", _unique_components, ("intrinsic_prompted_cosine",)),
    ("Steering strength", _steering_strength, ("steering_shift_prompted_minus_intrinsic",)),
    ("Dose-response", _dose_response, ("dose_prompted_minus_intrinsic",)),
    ("Diversity", _diversity, ("distinct2_intrinsic_minus_prompted",)),
    ("Compliance channel", _compliance_channel, ("steering_general_prompted_only",)),
    ("Instruction following", _compliance, ("compliance_instruction_shift_prompted_only",)),
    ("Across languages", _crosslingual, ("crosslingual_probe_auroc_en",)),
    ("Circumplex", _circumplex, ("circumplex_fit_theory",)),
    ("Labeller check", _labeller_check, ()),
)
"""The findings of the reference paper, in the order they are told: topic, the sentence (None when its
metrics are absent) and the metrics whose gate it follows."""
