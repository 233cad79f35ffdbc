"""How far an instrument can be trusted: its agreement with human labels, per dimension and macro,
with bootstrap intervals over the sampling unit, and the gate it must pass.

A validity table has one row per (instrument, dataset, dimension) with the columns of
:data:`VALIDITY_COLUMNS`; ``dimension`` is :data:`MACRO` for the mean over dimensions. The gate applies
to one row's estimate, the macro one unless said otherwise (and, where a gate sets ``per_dimension``, to
every dimension's); a row passes when its estimate reaches its bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from valuescope import stats

MACRO = "macro"
"""The ``dimension`` of the row that averages the per-dimension figures."""
RUN_TABLE = "tables/instrument_validity.csv"
"""Where a run folder holds the validity table its report shows."""
RUN_STATUS = "instruments.json"
"""Where a run folder says whether its instruments were validated, and if not, why."""
POOLED = "pooled"
"""The ``dimension`` of a row computed on all rows at once (e.g. polarity over every inventory)."""
VALIDITY_COLUMNS = (
    "instrument", "dataset", "dimension", "metric", "estimate", "ci_low", "ci_high", "n", "gate", "passed",
)  # fmt: skip


class Instrument(Protocol):
    """What every text-to-value instrument offers besides its own way of scoring: its name in validity
    tables, and :meth:`validate` on a data folder of third-party human labels, which returns its validity
    table (rows in :data:`VALIDITY_COLUMNS`, each with the gate that applies to it and its verdict)."""

    instrument: str

    def validate(self, data: Path, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Gate:
    """The validity an instrument must show before a finding may rest on it.

    ``threshold`` applies to the estimate of the row ``applies_to`` (the macro mean by default);
    ``per_dimension``, if set, to every dimension's own row. Rows no bar applies to pass or fail nothing.
    """

    metric: str
    threshold: float
    per_dimension: float | None = None
    applies_to: str = MACRO

    def bar(self, dimension: str) -> float | None:
        if dimension == self.applies_to:
            return self.threshold
        return None if dimension in (MACRO, POOLED) else self.per_dimension

    def passes(self, dimension: str, estimate: float) -> bool | None:
        """True or False where a bar applies (NaN fails), None where none does."""
        bar = self.bar(dimension)
        return None if bar is None else bool(np.isfinite(estimate) and estimate >= bar)

    def describe(self, dimension: str) -> str:
        bar = self.bar(dimension)
        return "" if bar is None else f"{self.metric} >= {bar:g}"


def auroc_validity(
    scores: np.ndarray,
    labels: np.ndarray,
    dimensions: Sequence[str],
    *,
    groups: np.ndarray | None = None,
    counted: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """AUROC of each column of ``scores`` (n, k) against the bool ``labels`` (n, k), and their mean.

    ``counted`` (n, k) bool, if given, keeps only those rows for each dimension (e.g. the top and bottom
    quartiles, without the middle).

    Intervals are percentile bootstraps over ``groups`` (the sampling unit: argument, query, inventory;
    default each row), drawn with the same seed for every dimension and the macro mean, so they share
    resamples. Returns ``dimension``, ``estimate``, ``ci_low``, ``ci_high``, ``n`` (groups), macro last.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if scores.ndim != 2 or scores.shape != labels.shape or scores.shape[1] != len(dimensions):
        raise ValueError(
            f"scores {scores.shape} and labels {labels.shape} must both be (n, {len(dimensions)}), "
            "one column per dimension"
        )
    n = len(scores)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    n_groups = len(np.unique(groups))

    counted = np.ones_like(labels) if counted is None else np.asarray(counted, dtype=bool)
    if counted.shape != labels.shape:
        raise ValueError(f"counted {counted.shape} must match labels {labels.shape}")
    per_dimension = [_column_auroc(scores[:, j], labels[:, j], counted[:, j]) for j in range(len(dimensions))]

    def macro(idx: np.ndarray) -> float:
        return _nanmean([f(idx) for f in per_dimension])

    rows = []
    for name, statistic in [*zip(dimensions, per_dimension, strict=True), (MACRO, macro)]:
        est, lo, hi = _interval(statistic, n, groups, n_boot, seed)
        rows.append({"dimension": name, "estimate": est, "ci_low": lo, "ci_high": hi, "n": n_groups})
    return pd.DataFrame(rows)


def _interval(
    statistic: Callable[[np.ndarray], float], n: int, groups: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """The bootstrap, or the estimate with a NaN interval where resamples too often lack a class, or
    all NaN where the full data lacks one (a dimension with a single label)."""
    estimate = statistic(np.arange(n))
    if not np.isfinite(estimate):
        return float("nan"), float("nan"), float("nan")
    try:
        return stats.bootstrap(statistic, n, groups=groups, n_boot=n_boot, seed=seed)
    except ValueError:
        return estimate, float("nan"), float("nan")


def _column_auroc(
    scores: np.ndarray, labels: np.ndarray, counted: np.ndarray
) -> Callable[[np.ndarray], float]:
    def statistic(idx: np.ndarray) -> float:
        idx = idx[counted[idx]]
        y = labels[idx]
        return stats.auroc(scores[idx], y) if y.any() and (~y).any() else float("nan")

    return statistic


def validity_table(
    instrument: str, dataset: str, metric: str, table: pd.DataFrame, gate: Gate
) -> pd.DataFrame:
    """``table`` (from :func:`auroc_validity`) as validity records, each with its gate and verdict."""
    out = table.copy()
    out.insert(0, "instrument", instrument)
    out.insert(1, "dataset", dataset)
    out.insert(3, "metric", metric)
    out["gate"] = [gate.describe(d) for d in out["dimension"]]
    out["passed"] = pd.array(
        [gate.passes(d, e) for d, e in zip(out["dimension"], out["estimate"], strict=True)], dtype="boolean"
    )
    return out[list(VALIDITY_COLUMNS)]


def gate_verdicts(table: pd.DataFrame) -> dict[str, str | None]:
    """Per instrument of a validity table: None when every row its gate applies to passes, else what
    failed, in words (``touche23: macro auroc 0.732 (gate auroc >= 0.85); 6 of 20 dimensions below
    auroc >= 0.7``)."""
    verdicts: dict[str, str | None] = {}
    for instrument, rows in table.groupby("instrument", sort=False):
        failures = []
        for dataset, part in rows.groupby("dataset", sort=False):
            gated = part[part["passed"].notna()]
            failed = gated[~gated["passed"].astype(bool)]
            summary = failed[failed["dimension"].isin([MACRO, POOLED])]
            dims = gated[~gated["dimension"].isin([MACRO, POOLED])]
            bad = failed[~failed["dimension"].isin([MACRO, POOLED])]
            words = [
                f"{r.dimension} {r.metric} {r.estimate:.3f} (gate {r.gate})" for r in summary.itertuples()
            ]
            if len(bad):
                words.append(f"{len(bad)} of {len(dims)} dimensions below {bad['gate'].iloc[0]}")
            if words:
                failures.append(f"{dataset}: {', '.join(words)}")
        verdicts[str(instrument)] = "; ".join(failures) or None
    return verdicts


def share_validity(
    hits: np.ndarray,
    dimension_of: np.ndarray,
    dimensions: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Share of ``hits`` (n,) bool per dimension (``dimension_of`` names each row's) and their mean, with
    percentile bootstrap intervals over rows, drawn with one seed for all; columns as
    :func:`auroc_validity`'s (``n``: rows), macro last."""
    hits = np.asarray(hits, dtype=np.float64)
    dimension_of = np.asarray(dimension_of)
    if hits.shape != dimension_of.shape or hits.ndim != 1:
        raise ValueError(f"hits {hits.shape} and dimension_of {dimension_of.shape} must both be (n,)")
    masks = [dimension_of == d for d in dimensions]

    def share_in(mask: np.ndarray) -> Callable[[np.ndarray], float]:
        def statistic(idx: np.ndarray) -> float:
            rows = idx[mask[idx]]
            return float(hits[rows].mean()) if len(rows) else float("nan")

        return statistic

    per_dimension = [share_in(m) for m in masks]

    def macro(idx: np.ndarray) -> float:
        if not per_dimension:  # no dimensions: the share over every row
            return float(hits[idx].mean())
        return _nanmean([f(idx) for f in per_dimension])

    rows = []
    n = len(hits)
    groups = np.arange(n)
    for name, statistic, count in [
        *zip(dimensions, per_dimension, [int(m.sum()) for m in masks], strict=True),
        (MACRO, macro, n),
    ]:
        est, lo, hi = _interval(statistic, n, groups, n_boot, seed)
        rows.append({"dimension": name, "estimate": est, "ci_low": lo, "ci_high": hi, "n": count})
    return pd.DataFrame(rows)


def need_path(path: Path, what: str) -> Path:
    """``path``, or a FileNotFoundError saying what it should hold and how to give a data folder."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {what} (set --data or VALUESCOPE_DATA)")
    return path


def _nanmean(values: Sequence[float]) -> float:
    """The mean of the finite values; NaN (without a warning) when there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
