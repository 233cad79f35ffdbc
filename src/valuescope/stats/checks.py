"""Argument checks and group bookkeeping shared by the resampling functions: per-row group ids,
integer codes, confidence levels, counts, NaN statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_MAX_NAN_FRACTION = 0.10


def check_groups(groups: np.ndarray | Sequence[Any] | None, n_rows: int, name: str = "groups") -> np.ndarray:
    """Validate a per-row id array (one entry per row, 1-D, no NaN) and return it as an array.

    ``None`` gives ``np.arange(n_rows)``: every row its own group. Raises ValueError naming ``name``.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    if groups is None:
        return np.arange(n_rows)
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one id per row), got shape {arr.shape}")
    if len(arr) != n_rows:
        raise ValueError(f"{name} has {len(arr)} entries but there are {n_rows} rows; give one id per row")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; every row needs a valid id")
    return arr


def integer_codes(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 for the distinct values of ``ids``, and k."""
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.reshape(-1).astype(np.intp), len(uniq)


def constant_within(values: np.ndarray, group_codes: np.ndarray, n_groups: int) -> bool:
    """Whether ``values`` (per row) takes a single value inside every group."""
    v_codes, n_v = integer_codes(values)
    pairs = group_codes.astype(np.int64) * max(n_v, 1) + v_codes
    return len(np.unique(pairs)) == n_groups


def first_of_group(values: np.ndarray, group_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """One value per group (the value of its first row); assumes ``values`` is constant within groups."""
    first = np.full(n_groups, -1, dtype=np.intp)
    rows = np.arange(len(group_codes))
    # reversed assignment leaves the first row of each group
    first[group_codes[::-1]] = rows[::-1]
    return values[first]


def check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def check_count(value: int, name: str) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")


def drop_nan(values: np.ndarray, what: str) -> np.ndarray:
    bad = np.isnan(values)
    if bad.mean() > _MAX_NAN_FRACTION:
        raise ValueError(
            f"the statistic was NaN in {int(bad.sum())} of {len(values)} {what} (more than "
            f"{_MAX_NAN_FRACTION:.0%}); it is undefined on many resamples (e.g. a resample without both "
            "classes). Use larger groups or strata, or a statistic defined on every resample"
        )
    result: np.ndarray = values[~bad]
    return result


def unit_vector(v: np.ndarray, name: str) -> np.ndarray:
    """``v`` scaled to unit length; ValueError naming ``name`` if it is not 1-D or has no finite norm."""
    arr = np.asarray(v, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    norm = float(np.linalg.norm(arr))
    if not norm > 0 or not np.isfinite(norm):
        raise ValueError(f"{name} has zero (or non-finite) norm")
    return arr / norm
