"""Value neurons: MLP neurons whose write direction lies in a value's (shared, difference) plane.

``classify_neurons`` keeps the neurons writing most into the plane and sorts them by the angle of their
write line from the shared axis; ``neuron_kinds`` does so for many values at once; two nulls say what
share of neurons would be "shared" by chance (``shared_fraction_null`` for uniform angles,
``random_plane_shared_fraction`` for random planes). Randomness comes from ``np.random.default_rng(seed)``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from valuescope.studies.mechanisms.analysis import AXIS_TOL, count_at_least, finite_array, unit

__all__ = [
    "classify_neurons",
    "neuron_kinds",
    "random_plane_shared_fraction",
    "shared_fraction_null",
    "top_count",
    "top_rows",
]


_PLANE_CHUNK = 256


def _check_angle(angle_deg: float) -> float:
    if not 0.0 < angle_deg < 90.0:
        raise ValueError(f"angle_deg must be in (0, 90) degrees, got {angle_deg}")
    return float(angle_deg)


def top_count(top_fraction: float, n_neurons: int) -> int:
    """ceil(top_fraction * n_neurons), immune to float fuzz (0.1 * 30 is 3, not 4)."""
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    return max(1, math.ceil(round(top_fraction * n_neurons, 9)))


def _line_angles(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle (degrees, [-90, 90]) of the line through (a, c) from the a axis, positive toward +c."""
    return np.degrees(np.arctan2(c * np.where(a < 0, -1.0, 1.0), np.abs(a)))


def _check_axes(shared: np.ndarray, difference: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    s, c = finite_array(shared, "shared", 1), finite_array(difference, "difference", 1)
    if len(s) != d or len(c) != d:
        raise ValueError(
            f"shared and difference must have the write vectors' width {d}, got {len(s)}, {len(c)}"
        )
    if abs(s @ s - 1) > AXIS_TOL or abs(c @ c - 1) > AXIS_TOL or abs(s @ c) > AXIS_TOL:
        raise ValueError(
            "shared and difference must be orthonormal (unit length, dot 0); take them from "
            "shared_and_difference_axes"
        )
    return s, c


def classify_neurons(
    write: np.ndarray, shared: np.ndarray, difference: np.ndarray, top_fraction: float, angle_deg: float
) -> pd.DataFrame:
    """The neurons writing most into the (shared, difference) plane, with the angle of their write line.

    ``write`` is (n_neurons, d), a row per neuron's output direction. With a = w·shared, c = w·difference:
    score = sqrt(a² + c²), of which the ceil(top_fraction · n_neurons) highest are kept; angle =
    atan2(c·sign(a), |a|) in degrees ([-90, 90], sign(0) = +1), the line's angle from the shared axis,
    positive toward the intrinsic side; kind = "shared" if |angle| <= angle_deg, else "intrinsic" (angle >
    0) or "prompted". Columns neuron, score, angle, kind; sorted by score, highest first.
    """
    w = finite_array(write, "write", 2)
    s, c = _check_axes(shared, difference, w.shape[1])
    k = top_count(top_fraction, len(w))
    limit = _check_angle(angle_deg)
    a_proj, c_proj = w @ s, w @ c
    score = np.hypot(a_proj, c_proj)
    keep = np.argsort(-score, kind="stable")[:k]
    angle = _line_angles(a_proj[keep], c_proj[keep])
    kind = np.where(np.abs(angle) <= limit, "shared", np.where(angle > 0, "intrinsic", "prompted"))
    return pd.DataFrame({"neuron": keep.astype(int), "score": score[keep], "angle": angle, "kind": kind})


def top_rows(score: np.ndarray, k: int) -> np.ndarray:
    """(k, V) row indices of the ``k`` largest entries of each column of ``score`` (n, V), largest first,
    ties to the lower row: ``np.argsort(-score, axis=0, kind="stable")[:k]`` without sorting every row."""
    n, n_cols = score.shape
    if 8 * k >= n or np.isnan(score).any():
        return np.argsort(-score, axis=0, kind="stable")[:k]
    kth = np.partition(score, n - k, axis=0)[n - k]  # (V,) the k-th largest of each column
    out = np.empty((k, n_cols), dtype=np.intp)
    for v in range(n_cols):
        candidates = np.flatnonzero(score[:, v] >= kth[v])  # the top k and any ties with the k-th
        out[:, v] = candidates[np.argsort(-score[candidates, v], kind="stable")[:k]]
    return out


def neuron_kinds(
    write: np.ndarray, shared: np.ndarray, difference: np.ndarray, top_fraction: float, angle_deg: float
) -> np.ndarray:
    """``classify_neurons`` for V values at once: (V, n_neurons) int8 codes, 0 for a neuron not kept,
    1 shared, 2 intrinsic, 3 prompted. ``shared`` and ``difference`` are (V, d), one axis pair per row."""
    w = np.asarray(write, dtype=float)
    if w.ndim != 2:
        raise ValueError(f"write must be 2-D, got shape {w.shape}")
    s, c = finite_array(shared, "shared", 2), finite_array(difference, "difference", 2)
    if s.shape != c.shape or s.shape[1] != w.shape[1]:
        raise ValueError(f"shared {s.shape} and difference {c.shape} must be (V, {w.shape[1]})")
    k = top_count(top_fraction, len(w))
    limit = _check_angle(angle_deg)
    a_proj, c_proj = w @ s.T, w @ c.T  # (n_neurons, V)
    if not (np.isfinite(a_proj).all() and np.isfinite(c_proj).all()):
        finite_array(write, "write", 2)  # a NaN or infinite write entry makes its projections non-finite
    keep = top_rows(np.hypot(a_proj, c_proj), k)  # (k, V)
    angle = _line_angles(np.take_along_axis(a_proj, keep, 0), np.take_along_axis(c_proj, keep, 0))
    kinds = np.where(np.abs(angle) <= limit, 1, np.where(angle > 0, 2, 3)).astype(np.int8)
    codes = np.zeros((s.shape[0], len(w)), dtype=np.int8)
    np.put_along_axis(codes, keep.T, kinds.T, axis=1)
    return codes


def shared_fraction_null(angle_deg: float) -> float:
    """angle_deg / 90: the shared fraction if the write lines' angles were uniform in the plane."""
    return _check_angle(angle_deg) / 90.0


def random_plane_shared_fraction(
    write: np.ndarray,
    top_fraction: float,
    angle_deg: float,
    n: int,
    seed: int = 0,
    draw: Callable[[int, np.random.Generator], np.ndarray] | None = None,
) -> np.ndarray:
    """(n,) shared fractions of ``classify_neurons`` on the same neurons for random orthonormal axis pairs.

    ``draw(m, rng)`` gives m random directions (m, d) for the axes (default: isotropic Gaussian; pass
    draws from the residual covariance so the null follows the data's anisotropy); the second axis of each
    pair is made orthogonal to the first.
    """
    w = finite_array(write, "write", 2)
    n = count_at_least(n, "n")
    k = top_count(top_fraction, len(w))
    limit = _check_angle(angle_deg)
    if w.shape[1] < 2:
        raise ValueError(f"write vectors need at least 2 dimensions for a plane, got {w.shape[1]}")
    rng = np.random.default_rng(seed)
    if draw is None:

        def draw(m: int, g: np.random.Generator) -> np.ndarray:
            return g.standard_normal((m, w.shape[1]))

    out = np.empty(n)
    for start in range(0, n, _PLANE_CHUNK):
        m = min(_PLANE_CHUNK, n - start)
        s = unit(draw(m, rng))
        c = draw(m, rng)
        c = unit(c - np.einsum("md,md->m", c, s)[:, None] * s)
        a_proj, c_proj = w @ s.T, w @ c.T  # (n_neurons, m)
        keep = np.argsort(-np.hypot(a_proj, c_proj), axis=0, kind="stable")[:k]
        a_top, c_top = np.take_along_axis(a_proj, keep, 0), np.take_along_axis(c_proj, keep, 0)
        out[start : start + m] = (np.abs(_line_angles(a_top, c_top)) <= limit).mean(axis=0)
    return out
