"""Mechanisms of value expression: intrinsic (the model's own choice) vs prompted (asked to express a value).

The math of the study, on plain float64 arrays:

- Value vectors: per value, the mean activation of responses labelled with it minus the mean of the rest
  (``value_vectors``) and what different values' vectors share (``cross_value_cosine``,
  ``excess_cosine``).
- Shared and unique axes: per value, the bisector of the two unit vectors (shared) and the direction from
  the prompted to the intrinsic one (difference) (``shared_and_difference_axes``, ``orthogonalise``).
- Value neurons: MLP neurons whose write direction lies in a value's (shared, difference) plane, sorted
  by their angle from the shared axis (``classify_neurons``, ``neuron_kinds`` for many values at once,
  with two nulls).
- Circumplex geometry: Schwartz's circle of values as a cosine matrix, the rank fit of a model's value
  cosines to it with a label-permutation p, and 2-D coordinates for plotting (``circumplex_*``).
- Steering: the shift in questionnaire self-ratings toward the steered value and its neighbours
  (``steering_shift``, ``value_deltas``, ``neighbour_response``).
- Diversity of generated text (``distinct_n``, ``embedding_diversity``).

Randomness comes from ``np.random.default_rng(seed)``; results are deterministic for a given seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = [
    "circular_order_score",
    "circumplex_coordinates",
    "circumplex_fit",
    "circumplex_theory",
    "classify_neurons",
    "cosine_matrix",
    "cross_value_cosine",
    "distinct_n",
    "embedding_diversity",
    "excess_cosine",
    "neighbour_response",
    "neuron_kinds",
    "offdiagonal",
    "orthogonalise",
    "random_plane_shared_fraction",
    "shared_and_difference_axes",
    "shared_fraction_null",
    "steering_shift",
    "unit",
    "value_deltas",
    "value_vectors",
]

_AXIS_TOL = 1e-6
_TIE_TOL = 1e-12
_PLANE_CHUNK = 256
_WORD = re.compile(r"\w+(?:'\w+)?")

# ----------------------------------------------------------------------------------------------------------
# validation helpers


def _array(a: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """``a`` as a finite float64 array with ``ndim`` dimensions; ValueError naming ``name`` otherwise."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} has {int((~np.isfinite(arr)).sum())} NaN or infinite entries; drop them first"
        )
    return arr


def _check_count(value: int, name: str, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_angle(angle_deg: float) -> float:
    if not 0.0 < angle_deg < 90.0:
        raise ValueError(f"angle_deg must be in (0, 90) degrees, got {angle_deg}")
    return float(angle_deg)


def top_count(top_fraction: float, n_neurons: int) -> int:
    """ceil(top_fraction * n_neurons), immune to float fuzz (0.1 * 30 is 3, not 4)."""
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    return max(1, math.ceil(round(top_fraction * n_neurons, 9)))


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
    aa, bb = _array(a, names[0], 2), _array(b, names[1], 2)
    if aa.shape != bb.shape:
        raise ValueError(f"{names[0]} and {names[1]} differ in shape: {aa.shape} vs {bb.shape}")
    return aa, bb


# ----------------------------------------------------------------------------------------------------------
# value vectors


def value_vectors(
    x: np.ndarray, labels: np.ndarray, names: Sequence[str], *, missing: Literal["raise", "nan"] = "raise"
) -> np.ndarray:
    """(V, d): per value, mean of ``x`` (n, d) over rows labelled True minus mean over rows labelled False.

    ``labels`` is (n, V) bool or 0/1, column j for value ``names[j]``; a response may carry several values.
    A value with no positive or no negative row raises, naming it; with ``missing="nan"`` its row is NaN
    instead (for resamples and halves where a rare value may be absent).
    """
    xa = _array(x, "x", 2)
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
    ua = unit(_array(a, "a", 2))
    ub = ua if b is None else unit(_array(b, "b", 2))
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


# ----------------------------------------------------------------------------------------------------------
# shared and unique axes


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
        bad = np.flatnonzero(np.linalg.norm(arr, axis=1) < _AXIS_TOL)
        if len(bad):
            raise ValueError(f"rows {bad.tolist()} of v_intrinsic and v_prompted are {what} axis is defined")
    return unit(total), unit(diff)


def orthogonalise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(V, d): each row of ``a`` minus its component along the same row of ``b``."""
    aa, bb = _pair(a, b, ("a", "b"))
    ub = unit(bb)
    return aa - np.einsum("vd,vd->v", aa, ub)[:, None] * ub


# ----------------------------------------------------------------------------------------------------------
# value neurons


def _line_angles(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle (degrees, [-90, 90]) of the line through (a, c) from the a axis, positive toward +c."""
    return np.degrees(np.arctan2(c * np.where(a < 0, -1.0, 1.0), np.abs(a)))


def _check_axes(shared: np.ndarray, difference: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    s, c = _array(shared, "shared", 1), _array(difference, "difference", 1)
    if len(s) != d or len(c) != d:
        raise ValueError(
            f"shared and difference must have the write vectors' width {d}, got {len(s)}, {len(c)}"
        )
    if abs(s @ s - 1) > _AXIS_TOL or abs(c @ c - 1) > _AXIS_TOL or abs(s @ c) > _AXIS_TOL:
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
    w = _array(write, "write", 2)
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
    s, c = _array(shared, "shared", 2), _array(difference, "difference", 2)
    if s.shape != c.shape or s.shape[1] != w.shape[1]:
        raise ValueError(f"shared {s.shape} and difference {c.shape} must be (V, {w.shape[1]})")
    k = top_count(top_fraction, len(w))
    limit = _check_angle(angle_deg)
    a_proj, c_proj = w @ s.T, w @ c.T  # (n_neurons, V)
    if not (np.isfinite(a_proj).all() and np.isfinite(c_proj).all()):
        _array(write, "write", 2)  # a NaN or infinite write entry makes its projections non-finite
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
    w = _array(write, "write", 2)
    n = _check_count(n, "n")
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


# ----------------------------------------------------------------------------------------------------------
# circumplex geometry


def circumplex_theory(n_values: int = 10) -> np.ndarray:
    """(V, V) cos(2πk/V), k the circular distance between positions i and j on the circle of values."""
    v = _check_count(n_values, "n_values", 3)
    idx = np.arange(v)
    gap = np.abs(idx[:, None] - idx[None, :])
    return np.cos(2.0 * np.pi * np.minimum(gap, v - gap) / v)


def _square(m: np.ndarray, name: str) -> np.ndarray:
    arr = _array(m, name, 2)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square (values x values), got shape {arr.shape}")
    return arr


def offdiagonal(m: np.ndarray) -> np.ndarray:
    """The entries above the diagonal of a square matrix, row by row."""
    arr = _square(m, "m")
    return arr[np.triu_indices(len(arr), k=1)]


def circumplex_fit(
    matrix: np.ndarray, reference: np.ndarray, *, n_perm: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(Spearman rho, one-sided p) between the off-diagonals of ``matrix`` and ``reference``.

    The null permutes the value labels of ``matrix`` (rows and columns together, so it must be symmetric):
    p = (1 + #{rho* >= rho}) / (1 + n_perm). Needs V >= 4.
    """
    m, ref = _square(matrix, "matrix"), _square(reference, "reference")
    if m.shape != ref.shape:
        raise ValueError(f"matrix and reference differ in shape: {m.shape} vs {ref.shape}")
    if len(m) < 4:
        raise ValueError(f"circumplex_fit needs at least 4 values, got {len(m)}")
    if not np.allclose(m, m.T):
        raise ValueError("matrix must be symmetric (a similarity between values); use (m + m.T) / 2")
    n_perm = _check_count(n_perm, "n_perm")
    iu = np.triu_indices(len(m), k=1)
    ranks = np.zeros_like(m)
    ranks[iu] = rankdata(m[iu])
    ranks = ranks + ranks.T
    x = ranks[iu] - ranks[iu].mean()
    r = rankdata(ref[iu])
    r = r - r.mean()
    scale = float(np.linalg.norm(x) * np.linalg.norm(r))
    if not scale > 0:
        raise ValueError(
            "matrix or reference has the same value everywhere off the diagonal; rho is undefined"
        )
    rho = float(x @ r) / scale
    perms = np.argsort(np.random.default_rng(seed).random((n_perm, len(m))), axis=1)
    permuted = ranks[perms[:, :, None], perms[:, None, :]][:, iu[0], iu[1]]
    null = (permuted - permuted.mean(axis=1, keepdims=True)) @ r / scale
    p = (1 + int((null >= rho - _TIE_TOL).sum())) / (1 + n_perm)
    return rho, p


def circumplex_coordinates(matrix: np.ndarray) -> np.ndarray:
    """(V, 2) classical MDS of a value similarity matrix, distance sqrt(2 - 2·sim) (diagonal ignored).

    Rotated so value 0 lies on the positive x axis and reflected so value 1 has y >= 0.
    """
    m = _square(matrix, "matrix")
    if not np.allclose(m, m.T):
        raise ValueError("matrix must be symmetric (a similarity between values); use (m + m.T) / 2")
    if len(m) < 3:
        raise ValueError(f"circumplex_coordinates needs at least 3 values, got {len(m)}")
    d2 = np.clip(2.0 - 2.0 * m, 0.0, None)
    np.fill_diagonal(d2, 0.0)
    centre = np.eye(len(m)) - 1.0 / len(m)
    eig, vec = np.linalg.eigh(-0.5 * centre @ d2 @ centre)
    top = np.argsort(eig)[::-1][:2]
    coords = vec[:, top] * np.sqrt(np.clip(eig[top], 0.0, None))
    turn = -np.arctan2(coords[0, 1], coords[0, 0])
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    coords = coords @ rot.T
    if coords[1, 1] < 0:
        coords[:, 1] *= -1.0
    return coords


def circular_order_score(coords: np.ndarray, order: Sequence[int] | np.ndarray | None = None) -> float:
    """Fraction of the V neighbour pairs of the theoretical circle that are neighbours by angle in ``coords``.

    ``order`` lists the rows of ``coords`` (V, 2) in theoretical circular order (default: row order).
    1.0 for points on a circle in that order, either direction.
    """
    xy = _array(coords, "coords", 2)
    v = len(xy)
    if xy.shape[1] != 2 or v < 3:
        raise ValueError(f"coords must be (V >= 3, 2), got shape {xy.shape}")
    seq = np.arange(v) if order is None else np.asarray(order)
    if sorted(seq.tolist()) != list(range(v)):
        raise ValueError(f"order must be a permutation of 0..{v - 1}, got {seq.tolist()}")

    def pairs(ring: np.ndarray) -> set[frozenset[int]]:
        return {frozenset((int(ring[i]), int(ring[(i + 1) % v]))) for i in range(v)}

    by_angle = np.argsort(np.arctan2(xy[:, 1], xy[:, 0]), kind="stable")
    return len(pairs(seq) & pairs(by_angle)) / v


# ----------------------------------------------------------------------------------------------------------
# steering


def _deltas(delta: np.ndarray, item_values: np.ndarray | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    d = _array(delta, "delta", 1)
    vals = np.asarray(item_values).astype(str)
    if vals.shape != d.shape:
        raise ValueError(
            f"item_values must name one value per item of delta ({len(d)}), got shape {vals.shape}"
        )
    return d, vals


def value_deltas(
    delta: np.ndarray, item_values: np.ndarray | Sequence[str], order: Sequence[str]
) -> np.ndarray:
    """(len(order),) mean ``delta`` over each value's items; items of values not in ``order`` are ignored."""
    d, vals = _deltas(delta, item_values)
    if isinstance(order, str):
        raise ValueError("order must be a sequence of value names, not one string; wrap it in a list")
    missing = [v for v in order if not (vals == v).any()]
    if missing:
        raise ValueError(f"no items measure {missing}; item_values has {sorted(set(vals.tolist()))}")
    return np.array([d[vals == v].mean() for v in order])


def steering_shift(delta: np.ndarray, item_values: np.ndarray | Sequence[str], target: str) -> float:
    """Mean ``delta`` over the target's items minus the mean over the other values of their mean delta.

    ``delta`` (n_items,) is steered minus baseline self-rating per item, reverse keys already corrected;
    ``item_values`` names the value each item measures. Every other value weighs the same.
    """
    d, vals = _deltas(delta, item_values)
    if not (vals == target).any():
        raise ValueError(
            f"no items measure the target {target!r}; item_values has {sorted(set(vals.tolist()))}"
        )
    others = sorted(set(vals.tolist()) - {target})
    if not others:
        raise ValueError(f"every item measures {target!r}; the shift needs items of other values to compare")
    return float(d[vals == target].mean() - value_deltas(d, vals, others).mean())


def neighbour_response(deltas_by_value: np.ndarray, target_index: int) -> float:
    """Pearson r, over the non-target values, between their mean delta and cos(2πk/V), k the circular
    distance to the target: positive when steering a value raises its neighbours and lowers its opposites.

    ``deltas_by_value`` is (V,) in circumplex order (``value_deltas``). NaN if the deltas have no spread.
    """
    d = _array(deltas_by_value, "deltas_by_value", 1)
    v = len(d)
    if v < 4:
        raise ValueError(f"neighbour_response needs at least 4 values, got {v}")
    if int(target_index) != target_index or not 0 <= target_index < v:
        raise ValueError(f"target_index must be an integer in 0..{v - 1}, got {target_index}")
    closeness = circumplex_theory(v)[int(target_index)]
    rest = np.arange(v) != target_index
    x, y = d[rest] - d[rest].mean(), closeness[rest] - closeness[rest].mean()
    scale = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / scale if scale > 0 else float("nan")


# ----------------------------------------------------------------------------------------------------------
# diversity


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Unique word n-grams / all word n-grams over ``texts`` (lowercased, words ``\\w+(?:'\\w+)?``).

    n-grams do not cross texts. ValueError if no text has n words.
    """
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string; wrap it in a list")
    n = _check_count(n, "n")
    grams: list[tuple[str, ...]] = []
    for text in texts:
        words = _WORD.findall(text.lower())
        grams.extend(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    if not grams:
        raise ValueError(f"the {len(texts)} texts hold no word {n}-grams; distinct-{n} is undefined")
    return len(set(grams)) / len(grams)


def embedding_diversity(embeddings: np.ndarray) -> float:
    """Mean cosine distance 1 - cos over distinct pairs of rows of ``embeddings`` (m >= 2, e)."""
    e = _array(embeddings, "embeddings", 2)
    if len(e) < 2:
        raise ValueError(f"embedding_diversity needs at least 2 embeddings, got {len(e)}")
    return float(1.0 - offdiagonal(cosine_matrix(e)).mean())
