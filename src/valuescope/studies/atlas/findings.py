"""What one model's ``atlas`` results say in plain words: do its methods agree, and does steering follow
Schwartz's circle; and across models, how alike their value geometries are."""

from __future__ import annotations

from typing import Any

from valuescope.stats.metrics import BELOW_GATE, gate_note

Metrics = dict[str, dict[str, Any]]


def _num(m: dict[str, Any] | None, key: str = "estimate") -> float | None:
    value = None if m is None else m.get(key)
    return float(value) if isinstance(value, int | float) else None


def ci(m: dict[str, Any] | None, digits: int = 2) -> str:
    """``estimate [low, high], p = ...`` of a metric entry, "n/a" without an estimate."""
    est, lo, hi, p = (_num(m, k) for k in ("estimate", "ci_low", "ci_high", "p"))
    if est is None:
        return "n/a"
    out = f"{est:.{digits}f}"
    if lo is not None and hi is not None:
        out += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    if p is not None:
        out += ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"
    return out


def _holds(m: dict[str, Any] | None, above: float = 0.0) -> bool:
    lo, p = _num(m, "ci_low"), _num(m, "p")
    return lo is not None and lo > above and (p is None or p < 0.05)


def _gated(metrics: Metrics, *names: str) -> str | None:
    return next((n for name in names if (n := gate_note(metrics.get(name)))), None)


def agreement(metrics: Metrics) -> str | None:
    conv, disc = metrics.get("mtmm_convergent"), metrics.get("mtmm_discriminant")
    if _num(conv) is None:
        return None
    share = metrics.get("mtmm_criteria_share")
    gap = metrics.get("mtmm_convergent_minus_discriminant")
    held = _holds(gap)
    return (
        f"The same value measured by different methods correlates at {ci(conv)} over queries, different "
        f"values at {ci(disc)}; {ci(share)} of the convergent correlations beat their rivals. The methods "
        + ("agree beyond shuffled value labels." if held else "do not agree beyond shuffled value labels.")
    )


def side_effects(metrics: Metrics) -> str | None:
    amp = metrics.get("sidefx_amplitude")
    if _num(amp) is None:
        return None
    signed = metrics.get("sidefx_signed_amplitude")
    follows = _holds(signed)
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
    if _num(m) is None:
        return [f"Value geometry across models: {m.get('note', 'not computable')}."]
    alike = "alike beyond shuffled values" if _holds(m) else "not alike beyond shuffled values"
    return [f"Value geometry across models: the models' value-vector cosines correlate at {ci(m)}; {alike}."]
