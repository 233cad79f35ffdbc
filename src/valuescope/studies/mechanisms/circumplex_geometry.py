"""Circumplex geometry: Schwartz's circle of values as a cosine matrix (``circumplex_theory``), the rank
fit of a model's value cosines to it with a label-permutation p (``circumplex_fit``), and 2-D coordinates
for plotting with a score of how well they keep the circular order (``circumplex_coordinates``,
``circular_order_score``). Randomness comes from ``np.random.default_rng(seed)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from valuescope.studies.mechanisms.analysis import count_at_least, finite_array

__all__ = [
    "circular_order_score",
    "circumplex_coordinates",
    "circumplex_fit",
    "circumplex_theory",
    "offdiagonal",
]


_TIE_TOL = 1e-12


def circumplex_theory(n_values: int = 10) -> np.ndarray:
    """(V, V) cos(2πk/V), k the circular distance between positions i and j on the circle of values."""
    v = count_at_least(n_values, "n_values", 3)
    idx = np.arange(v)
    gap = np.abs(idx[:, None] - idx[None, :])
    return np.cos(2.0 * np.pi * np.minimum(gap, v - gap) / v)


def _square(m: np.ndarray, name: str) -> np.ndarray:
    arr = finite_array(m, name, 2)
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
    n_perm = count_at_least(n_perm, "n_perm")
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
    xy = finite_array(coords, "coords", 2)
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
