"""What an entanglement estimate says: whether it can be interpreted at all, the verdict on a repair
edit, and a one-line description in plain words."""

from __future__ import annotations

from typing import Literal

import numpy as np

from valuescope.stats import Estimate

__all__ = ["Verdict", "describe_entanglement", "repair_verdict", "uninterpretable"]

Verdict = Literal[
    "works", "entanglement unchanged", "damages discrimination", "no entanglement to repair",
    "controls not computable",
]  # fmt: skip


def uninterpretable(est: Estimate) -> bool:
    """True when the CI covers 0 (or is NaN): no reliable effect to interpret."""
    if np.isnan(est.ci_low) or np.isnan(est.ci_high):
        return True
    return bool(est.ci_low <= 0.0 <= est.ci_high)


def _covers(est: Estimate, value: float) -> bool:
    return bool(est.ci_low <= value <= est.ci_high)


def repair_verdict(
    before: Estimate,
    beats_controls: bool | None,
    discrimination_before: Estimate,
    discrimination_after: float,
) -> Verdict:
    """Verdict on a repair edit, checked in this order:

    - "no entanglement to repair": ``before``'s CI covers 0 (or is NaN);
    - "damages discrimination": ``discrimination_after`` lies outside ``discrimination_before``'s CI;
    - "controls not computable": the comparison with the controls could not be made (``None``);
    - "works": the edit lowered entanglement beyond its effect-matched controls (``beats_controls``);
    - "entanglement unchanged": otherwise (the edit is no better than a variance-matched random one).
    """
    if uninterpretable(before):
        return "no entanglement to repair"
    if not _covers(discrimination_before, discrimination_after):
        return "damages discrimination"
    if beats_controls is None:
        return "controls not computable"
    return "works" if beats_controls else "entanglement unchanged"


def _format_p(p: float | None) -> str:
    if p is None:
        return ""
    return ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"


def describe_entanglement(est: Estimate, domain: str, *, stat: str = "d") -> str:
    """Plain words, e.g. "moral goodness raises grammaticality ratings (d = 0.42 [0.18, 0.66], p = 0.002)".

    "raises"/"lowers" when the CI excludes 0, else "does not reliably change".
    """
    direction = "raises" if est.estimate > 0 else "lowers"
    verb = "does not reliably change" if uninterpretable(est) else direction
    numbers = f"{stat} = {est.estimate:.2f} [{est.ci_low:.2f}, {est.ci_high:.2f}]{_format_p(est.p)}"
    return f"moral goodness {verb} {domain} ({numbers})"
