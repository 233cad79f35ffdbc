"""Random directions matched to an edit's direction on projected variance: the controls of a direction
ablation are drawn from the data's own covariance, tilted until each moves the data as much as the edit."""

from __future__ import annotations

import numpy as np

from valuescope.stats.checks import unit_vector

_MATCH_TOL = 0.05


_TILT_BOUND = 2.0**20


_TILT_STEPS = 100


def _tilted_variance(alpha: np.ndarray, eig: np.ndarray, mass: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Projected variance (scaled) of the tilted directions, one per row: mean of ``eig`` under weights
    ``exp(2 alpha eig) * mass``, with the null-space mass ``rest`` at eigenvalue 0."""
    expo = 2.0 * alpha[:, None] * eig[None, :]
    shift = np.maximum(expo.max(axis=1), 0.0)
    w = np.exp(expo - shift[:, None]) * mass
    w0 = np.exp(-shift) * rest
    result: np.ndarray = (w @ eig) / (w.sum(axis=1) + w0)
    return result


def _solve_tilt(eig: np.ndarray, mass: np.ndarray, rest: np.ndarray, target: float) -> np.ndarray:
    """Per row, the tilt alpha whose tilted variance equals ``target`` (bisection; monotone in alpha)."""
    n = len(mass)
    lo = np.full(n, -_TILT_BOUND)
    hi = np.full(n, _TILT_BOUND)
    for _ in range(_TILT_STEPS):
        mid = (lo + hi) / 2.0
        below = _tilted_variance(mid, eig, mass, rest) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    result: np.ndarray = (lo + hi) / 2.0
    return result


def matched_random_directions(x: np.ndarray, direction: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random unit directions (n, d) whose projected variance on ``x`` matches ``direction``'s.

    ``x`` is (items, d); projected variance is var(x @ r) over items. Method: each direction starts as a
    Gaussian draw g, written in the eigenbasis of cov(x) (eigenvalues l_i, coordinates c_i, plus the
    part of g outside the row space of x at eigenvalue 0), and is tilted to r = sum exp(alpha l_i) c_i v_i
    + g_null. Its projected variance, the mean of l under weights exp(2 alpha l_i) c_i^2, rises
    monotonically with alpha from the smallest to the largest eigenvalue, so bisection on alpha hits the
    target exactly; alpha = 0 is the untilted Gaussian direction. ValueError if the direction has no
    projected variance, or a match within 5% is impossible.
    """
    xa = np.asarray(x, dtype=float)
    if xa.ndim != 2 or len(xa) < 2:
        raise ValueError(f"x must be (items, features) with at least 2 items, got shape {xa.shape}")
    u = unit_vector(direction, "direction")
    if len(u) != xa.shape[1]:
        raise ValueError(f"direction has {len(u)} entries but x has {xa.shape[1]} features")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    xc = xa - xa.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    eig_all = s**2 / (len(xa) - 1)
    top = float(eig_all.max()) if len(eig_all) else 0.0
    target = float((xc @ u) @ (xc @ u)) / (len(xa) - 1)
    if not top > 0 or target <= top * 1e-12:
        raise ValueError("direction has no projected variance on x; no random direction can match it")
    keep = eig_all > top * 1e-12
    eig, basis = eig_all[keep] / top, vt[keep]

    rng = np.random.default_rng(seed)
    draws = rng.standard_normal((int(n), len(u)))
    coords = draws @ basis.T
    null_part = draws - coords @ basis
    rest = np.einsum("ij,ij->i", null_part, null_part)
    alpha = _solve_tilt(eig, coords**2, rest, target / top)

    amp = alpha[:, None] * eig[None, :]
    shift = np.maximum(amp.max(axis=1), 0.0)
    out: np.ndarray = (np.exp(amp - shift[:, None]) * coords) @ basis + np.exp(-shift)[:, None] * null_part
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    got = np.einsum("ij,ij->i", out @ xc.T, out @ xc.T) / (len(xa) - 1)
    if (np.abs(got / target - 1.0) > _MATCH_TOL).any():
        raise ValueError(
            "could not match the direction's projected variance within 5% "
            f"(target {target:.4g}, achieved {got.min():.4g}..{got.max():.4g})"
        )
    return out
