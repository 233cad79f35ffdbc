"""What a statistic reports: a point estimate with its interval, p-value and number of units; a null
distribution's summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from valuescope.stats.checks import check_level

Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval, p-value (if tested) and number of independent units."""

    estimate: float
    ci_low: float
    ci_high: float
    p: float | None
    n: int  # independent units (groups), not rows

    def as_metric(self, **extra: Any) -> dict[str, Any]:
        """The metric dict studies report: estimate, ci_low, ci_high, p, n, plus ``extra`` keys not None."""
        out: dict[str, Any] = {
            "estimate": float(self.estimate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "p": None if self.p is None else float(self.p),
            "n": int(self.n),
        }
        clash = sorted(set(extra) & set(out))
        if clash:
            raise ValueError(f"as_metric extra keys {clash} would overwrite the estimate's own fields")
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


@dataclass(frozen=True)
class NullSummary:
    """A null given as draws: median, the central ``level`` range widened to contain the median, SD, count."""

    median: float
    low: float
    high: float
    sd: float
    n: int
    level: float = 0.95

    @property
    def spread(self) -> float:
        """Largest minus smallest draw of the central range (0 when the draws are all equal)."""
        return self.high - self.low

    def describe(self, digits: int = 3) -> str:
        """E.g. "20 draws, median 0.041, 95% range [0.030, 0.052], SD 0.006"."""
        f = f".{digits}f"
        return (
            f"{self.n} draws, median {self.median:{f}}, {100 * self.level:.0f}% range "
            f"[{self.low:{f}}, {self.high:{f}}], SD {self.sd:.{digits}g}"
        )


def summarize_null(null: np.ndarray | Sequence[float], level: float = 0.95) -> NullSummary:
    """Median, central ``level`` quantile range and SD of the finite draws of ``null``.

    The range is widened to contain the median, so an interval built from it always contains its estimate
    (a mean of equal floats can fall an ulp outside their quantiles; a median cannot escape this).
    """
    check_level(level)
    nv = np.asarray(null, dtype=float).reshape(-1)
    nv = nv[np.isfinite(nv)]
    if len(nv) == 0:
        raise ValueError("the null has no finite draws")
    alpha = (1.0 - level) / 2.0
    med = float(np.median(nv))
    lo, hi = (float(q) for q in np.quantile(nv, [alpha, 1.0 - alpha]))
    sd = float(nv.std(ddof=1)) if len(nv) > 1 else 0.0
    return NullSummary(median=med, low=min(lo, med), high=max(hi, med), sd=sd, n=len(nv), level=level)
