"""The metric record (the summary contract): every metric is ``{"estimate", "ci_low", "ci_high", "p",
"n"}`` plus optional ``layer``, ``better``, ``note`` and ``ungated``; checked where a study
hands it over, not when a reader trips on it. Each study declares the metrics it can emit once, as
:class:`MetricSpec` entries in its ``metrics`` module."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ALL_MODELS = "_all"
"""Model key of metrics, tables and figures computed across models."""
REQUIRED = ("estimate", "ci_low", "ci_high", "p", "n")
OPTIONAL = ("layer", "better", "note", "ungated")
BELOW_GATE = "instrument below its validity gate"
"""How a metric resting on an instrument that failed its gate reads, in the summary and the findings."""
ROUNDING = 1e-9
"""Relative slack of the "interval contains its estimate" check: float rounding, nothing more."""
NO_INTERVAL = frozenset({"kmo", "sae_fve", "sae_l0"})
"""Single-fit diagnostics whose interval fields are null (as are counts, names starting ``n_``)."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric a study can emit, declared once.

    ``name`` is its key in the summary; ``meaning`` one line saying what the estimate is (the report
    shows it beside the metric); ``better`` the direction in which the estimate is better, ``"higher"``
    or ``"lower"``, or None where neither is (a baseline, a control's null, a count, a difference whose
    sign is the question), and it is what the metric's ``better`` field carries; ``interval`` is
    ``"ci"`` when a computed estimate comes with its 95% interval and ``"none"`` for counts and
    single-fit diagnostics, whose ``ci_low`` and ``ci_high`` are null. ``instrument``, if set, names the
    text-to-value instrument the estimate rests on, as its validity table names it (``value-labeller``):
    where that instrument is below its gate, the run reports the metric as :data:`BELOW_GATE`.
    """

    name: str
    meaning: str
    better: Literal["higher", "lower"] | None
    interval: Literal["ci", "none"]
    instrument: str | None = None


def metric_descriptions(specs: Iterable[MetricSpec]) -> dict[str, str]:
    """Name -> meaning of ``specs``, in their order (a study's ``metrics``); a name declared twice is an
    error."""
    out: dict[str, str] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"metric {spec.name!r} is declared twice; declare each metric once")
        out[spec.name] = spec.meaning
    return out


def has_interval(name: str) -> bool:
    """Whether metric ``name`` must carry a finite 95% interval."""
    return not (name.startswith("n_") or name in NO_INTERVAL)


def metric(
    estimate: float | None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    *,
    p: float | None = None,
    n: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build one metric entry; ``extra`` may hold layer, better and note (None values dropped)."""
    out: dict[str, Any] = {
        "estimate": _num(estimate),
        "ci_low": _num(ci_low),
        "ci_high": _num(ci_high),
        "p": _num(p),
        "n": None if n is None else int(n),
    }
    for key, value in extra.items():
        if key not in OPTIONAL:
            raise ValueError(f"metric field {key!r} is not one of {', '.join(OPTIONAL)}")
        if value is not None:
            out[key] = int(value) if key == "layer" else value
    return out


def missing(note: str, n: int | None = None) -> dict[str, Any]:
    """A metric that could not be computed, with the reason."""
    return metric(None, n=n, note=note)


def below_gate(entry: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """``entry`` shown as resting on an instrument below its validity gate: no estimate, interval or p;
    the note says why; the computed figures stay under ``ungated`` (nothing is lost)."""
    kept = {k: entry[k] for k in ("estimate", "ci_low", "ci_high", "p", "note") if entry.get(k) is not None}
    out = {k: entry.get(k) for k in ("n", "layer", "better") if entry.get(k) is not None}
    return {**metric(None, **out), "note": f"{BELOW_GATE}: {reason}", "ungated": kept}


def gate_note(entry: Mapping[str, Any] | None) -> str | None:
    """The note of a metric shown as below its instrument's gate, else None."""
    if entry is None or "ungated" not in entry:
        return None
    return str(entry.get("note", BELOW_GATE))


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    value = float(x)
    return None if math.isnan(value) else value


def check_metric(name: str, entry: Mapping[str, Any], where: str) -> None:
    """Raise ValueError if ``entry`` breaks the summary contract."""
    label = f"{where}: metric {name!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{label} is a {type(entry).__name__}, not a dict")
    absent = [k for k in REQUIRED if k not in entry]
    if absent:
        raise ValueError(f"{label} lacks {', '.join(absent)}")
    unknown = [k for k in entry if k not in REQUIRED and k not in OPTIONAL]
    if unknown:
        raise ValueError(f"{label} has unknown fields {', '.join(unknown)}")
    if "ungated" in entry and not isinstance(entry["ungated"], Mapping):
        raise ValueError(f"{label}: ungated must be a dict of the figures computed before gating")
    est = entry["estimate"]
    if est is None:
        if not entry.get("note"):
            raise ValueError(f"{label} has no estimate and no note saying why")
        return
    if not math.isfinite(float(est)):
        raise ValueError(f"{label} estimate {est!r} is not finite; use estimate None with a note")
    lo, hi = entry["ci_low"], entry["ci_high"]
    if has_interval(name):
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{label} needs a finite 95% interval, got [{lo}, {hi}]")
        slack = ROUNDING * max(abs(lo), abs(hi), abs(est))
        if not lo - slack <= est <= hi + slack:
            raise ValueError(f"{label}: interval [{lo}, {hi}] does not contain the estimate {est}")
    elif lo is not None or hi is not None:
        raise ValueError(f"{label} is a count or single-fit diagnostic: its interval fields must be null")
    p = entry["p"]
    if p is not None and not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{label} p={p} is outside [0, 1]")
    if entry.get("better") not in (None, "higher", "lower"):
        raise ValueError(f"{label} better={entry['better']!r}; use 'higher' or 'lower'")


def check_metrics(metrics: Mapping[str, Any], where: str) -> None:
    for name, entry in metrics.items():
        check_metric(name, entry, where)


def field_of(entry: Mapping[str, Any] | None, key: str = "estimate") -> float | None:
    """A numeric field of a metric entry (``estimate``, ``ci_low``, ``ci_high``, ``p``), else None."""
    value = None if entry is None else entry.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def with_interval(entry: Mapping[str, Any] | None, digits: int = 2) -> str:
    """``estimate [low, high], p = ...`` of a metric entry for a findings sentence; "n/a" without one."""
    est, lo, hi, p = (field_of(entry, k) for k in ("estimate", "ci_low", "ci_high", "p"))
    if est is None:
        return "n/a"
    out = f"{est:.{digits}f}"
    if lo is not None and hi is not None:
        out += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    if p is not None:
        out += ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"
    return out


def interval_above(entry: Mapping[str, Any] | None, value: float = 0.0) -> bool:
    """Whether the entry's CI lies above ``value`` and, where tested, p < 0.05 (a claim it supports)."""
    lo, p = field_of(entry, "ci_low"), field_of(entry, "p")
    return lo is not None and lo > value and (p is None or p < 0.05)
