"""Mechanisms of value expression: intrinsic (the model's own choice) vs prompted (asked to express a value).

The core math of the study, on plain float64 arrays:

- Value vectors: per value, the mean activation of responses labelled with it minus the mean of the rest
  (``value_vectors``) and what different values' vectors share (``cross_value_cosine``,
  ``excess_cosine``).
- Shared and unique axes: per value, the bisector of the two unit vectors (shared) and the direction from
  the prompted to the intrinsic one (difference) (``shared_and_difference_axes``, ``orthogonalise``).
- The input checks the other math modules share (``finite_array``, ``count_at_least``).

Value neurons are in ``neuron_geometry``, the circle of values in ``circumplex_geometry``, the effects of
steering in ``steering_effects``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = [
    "cosine_matrix",
    "count_at_least",
    "cross_value_cosine",
    "excess_cosine",
    "finite_array",
    "orthogonalise",
    "shared_and_difference_axes",
    "unit",
    "value_vectors",
]


AXIS_TOL = 1e-6
"""How far from unit length (or from orthogonal) a pair of axes may be."""


def finite_array(a: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """``a`` as a finite float64 array with ``ndim`` dimensions; ValueError naming ``name`` otherwise."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} has {int((~np.isfinite(arr)).sum())} NaN or infinite entries; drop them first"
        )
    return arr


def count_at_least(value: int, name: str, minimum: int = 1) -> int:
    """``value`` as an int; ValueError naming ``name`` unless it is an integer >= ``minimum``."""
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _labels(labels: np.ndarray, n_rows: int, names: Sequence[str]) -> np.ndarray:
    """(n, V) bool labels from bool or 0/1 values, with one name per column."""
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be 2-D (responses, values), got shape {lab.shape}")
    if lab.shape[0] != n_rows:
        raise ValueError(
            f"labels has {lab.shape[0]} rows but x has {n_rows}; give one label row per response"
        )
    if isinstance(names, str) or len(names) != lab.shape[1]:
        raise ValueError(f"names must list one value per column of labels ({lab.shape[1]}), got {names!r}")
    if lab.dtype != bool:
        if not np.isin(lab, [0, 1]).all():
            raise ValueError("labels must be bool or 0/1")
        lab = lab.astype(bool)
    return lab


def _check_classes(lab: np.ndarray, names: Sequence[str]) -> None:
    n_pos = lab.sum(axis=0)
    for j, name in enumerate(names):
        if n_pos[j] == 0:
            raise ValueError(
                f"no positive examples for {name!r} (column {j} of labels); a value vector needs "
                "responses labelled with it: collect more data or drop the value"
            )
        if n_pos[j] == len(lab):
            raise ValueError(
                f"no negative examples for {name!r} (column {j} of labels): every response is labelled "
                "with it, so there is nothing to contrast it with"
            )


def _fit(x: np.ndarray, lab: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Mean of x over positive rows minus mean over negative rows, per column of ``lab`` (checked).

    ``lab`` is (n, V), or (m, n, V) for m label matrices at once (one matrix product, giving (m, V, d)).
    """
    n_pos = lab.sum(axis=-2).astype(float)
    stacked = np.swapaxes(lab, -1, -2).reshape(-1, len(x)).astype(float)
    pos_sum = (stacked @ x).reshape((*n_pos.shape, x.shape[1]))
    return pos_sum / n_pos[..., None] - (total - pos_sum) / (len(x) - n_pos)[..., None]


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines of matching vectors along the last axis, for any leading shape."""
    d = a.shape[-1]
    cos = np.einsum("vd,vd->v", unit(a.reshape(-1, d)), unit(b.reshape(-1, d)))
    return np.clip(cos, -1.0, 1.0).reshape(a.shape[:-1])


def _pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two (V, d) arrays of the same shape."""
    aa, bb = finite_array(a, names[0], 2), finite_array(b, names[1], 2)
    if aa.shape != bb.shape:
        raise ValueError(f"{names[0]} and {names[1]} differ in shape: {aa.shape} vs {bb.shape}")
    return aa, bb


def value_vectors(
    x: np.ndarray, labels: np.ndarray, names: Sequence[str], *, missing: Literal["raise", "nan"] = "raise"
) -> np.ndarray:
    """(V, d): per value, mean of ``x`` (n, d) over rows labelled True minus mean over rows labelled False.

    ``labels`` is (n, V) bool or 0/1, column j for value ``names[j]``; a response may carry several values.
    A value with no positive or no negative row raises, naming it; with ``missing="nan"`` its row is NaN
    instead (for resamples and halves where a rare value may be absent).
    """
    xa = finite_array(x, "x", 2)
    lab = _labels(labels, len(xa), names)
    if missing == "raise":
        _check_classes(lab, names)
        return _fit(xa, lab, xa.sum(axis=0))
    n_pos = lab.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _fit(xa, lab, xa.sum(axis=0))
    out[(n_pos == 0) | (n_pos == len(xa))] = np.nan
    return out


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to unit norm: a (d,) vector, or each row of a (V, d) matrix. Zero rows raise."""
    arr = np.asarray(v, dtype=float)
    if arr.ndim not in (1, 2):
        raise ValueError(f"unit takes a (d,) vector or a (V, d) matrix, got shape {arr.shape}")
    norm = np.linalg.norm(arr, axis=-1, keepdims=True)
    bad = ~(np.isfinite(norm) & (norm > 0)).reshape(-1)
    if bad.any():
        where = "the vector" if arr.ndim == 1 else f"rows {np.flatnonzero(bad).tolist()}"
        raise ValueError(f"{where} of v have zero (or non-finite) norm and cannot be normalised")
    return arr / norm


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """(V, W) cosines between the rows of ``a`` (V, d) and the rows of ``b`` (W, d); ``b=None`` uses ``a``."""
    ua = unit(finite_array(a, "a", 2))
    ub = ua if b is None else unit(finite_array(b, "b", 2))
    if ua.shape[1] != ub.shape[1]:
        raise ValueError(f"a and b differ in width: {ua.shape[1]} vs {ub.shape[1]} features")
    return np.clip(ua @ ub.T, -1.0, 1.0)


def cross_value_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine between ``a[v]`` and ``b[w]`` over v != w: what any two value-laden directions share."""
    aa, bb = _pair(a, b, ("a", "b"))
    if len(aa) < 2:
        raise ValueError(f"cross_value_cosine needs at least 2 values (rows), got {len(aa)}")
    c = cosine_matrix(aa, bb)
    return float(c[~np.eye(len(c), dtype=bool)].mean())


def excess_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean same-value cosine, cos(a[v], b[v]), minus ``cross_value_cosine(a, b)``."""
    aa, bb = _pair(a, b, ("a", "b"))
    return float(_row_cosines(aa, bb).mean()) - cross_value_cosine(aa, bb)


def shared_and_difference_axes(
    v_intrinsic: np.ndarray, v_prompted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per value, (shared, difference) unit axes (V, d) of the plane of the intrinsic and prompted vectors.

    shared = unit(u_i + u_p) and difference = unit(u_i - u_p), u = unit(v): orthogonal, the difference
    pointing toward the intrinsic side. When cos(u_i, u_p) > 0 these are the first and second left singular
    vectors of the d x 2 matrix [u_i, u_p], oriented that way. ValueError if the two are (anti)parallel.
    """
    vi, vp = _pair(v_intrinsic, v_prompted, ("v_intrinsic", "v_prompted"))
    ui, up = unit(vi), unit(vp)
    total, diff = ui + up, ui - up
    for what, arr in (("opposite: no shared", total), ("parallel: no difference", diff)):
        bad = np.flatnonzero(np.linalg.norm(arr, axis=1) < AXIS_TOL)
        if len(bad):
            raise ValueError(f"rows {bad.tolist()} of v_intrinsic and v_prompted are {what} axis is defined")
    return unit(total), unit(diff)


def orthogonalise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(V, d): each row of ``a`` minus its component along the same row of ``b``."""
    aa, bb = _pair(a, b, ("a", "b"))
    ub = unit(bb)
    return aa - np.einsum("vd,vd->v", aa, ub)[:, None] * ub
