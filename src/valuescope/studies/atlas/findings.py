"""What one model's ``atlas`` results say in plain words: do its methods agree, and does steering follow
Schwartz's circle; and across models, how alike their value geometries are."""

from __future__ import annotations

from typing import Any

from valuescope.stats.metrics import BELOW_GATE, field_of, gate_note, interval_above
from valuescope.stats.metrics import with_interval as ci

Metrics = dict[str, dict[str, Any]]


def _gated(metrics: Metrics, *names: str) -> str | None:
    return next((n for name in names if (n := gate_note(metrics.get(name)))), None)


def agreement(metrics: Metrics) -> str | None:
    conv, disc = metrics.get("mtmm_convergent"), metrics.get("mtmm_discriminant")
    if field_of(conv) is None:
        return None
    share = metrics.get("mtmm_criteria_share")
    gap = metrics.get("mtmm_convergent_minus_discriminant")
    held = interval_above(gap)
    return (
        f"The same value measured by different methods correlates at {ci(conv)} over queries, different "
        f"values at {ci(disc)}; {ci(share)} of the convergent correlations beat their rivals. The methods "
        + ("agree beyond shuffled value labels." if held else "do not agree beyond shuffled value labels.")
    )


def side_effects(metrics: Metrics) -> str | None:
    amp = metrics.get("sidefx_amplitude")
    if field_of(amp) is None:
        return None
    signed = metrics.get("sidefx_signed_amplitude")
    follows = interval_above(signed)
    return (
        f"Steering one value moves the ten self-ratings in a cosine of amplitude {ci(amp)} around the "
        f"circle (aligned part {ci(signed)}), peaking {ci(metrics.get('sidefx_phase'), 0)} degrees from "
        f"the steered value, R² {ci(metrics.get('sidefx_r2'))}; circularity of the side-effects "
        f"{ci(metrics.get('sidefx_circularity'))}. Steering "
        + ("follows Schwartz's circle." if follows else "does not follow Schwartz's circle here.")
    )


def model_findings(metrics: Metrics) -> list[str]:
    """Two sentences on one model, or why they are not reported."""
    out = []
    for topic, write, rests_on in (
        ("Agreement of methods", agreement, ("mtmm_convergent",)),
        ("Side-effects of steering", side_effects, ("sidefx_amplitude",)),
    ):
        if (note := _gated(metrics, *rests_on)) is not None:
            out.append(f"{topic}: not reported as a result: {note}.")
        elif (sentence := write(metrics)) is not None:
            out.append(f"{topic}: {sentence}")
    return out


def across_models(metrics: Metrics) -> list[str]:
    """The cross-model sentence (value geometry likeness), or why it is missing."""
    m = metrics.get("rsa_value_geometry")
    if m is None:
        return []
    if (note := gate_note(m)) is not None:
        return [f"Value geometry across models: not reported as a result: {note or BELOW_GATE}."]
    if field_of(m) is None:
        return [f"Value geometry across models: {m.get('note', 'not computable')}."]
    alike = "alike beyond shuffled values" if interval_above(m) else "not alike beyond shuffled values"
    return [f"Value geometry across models: the models' value-vector cosines correlate at {ci(m)}; {alike}."]
