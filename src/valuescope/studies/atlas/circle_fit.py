"""Do steering side effects follow Schwartz's circle? A cosine fit of the ten per-value changes.

Steering one value moves the model's self-ratings of all ten. The circumplex predicts a cosine of the
angle around the circle (values at theta_v = 2*pi*v/10 in :data:`SCHWARTZ_VALUES` order): the steered value
and its neighbours rise, the opposite ones fall. :func:`fit_cosine` fits one edit, :func:`circle_side_effects`
summarises many with a bootstrap over items, :func:`null_compare` sets an amplitude against random
directions, and :func:`human_circle_fit` scores how circular a correlation matrix is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from valuescope.data.values import SCHWARTZ_VALUES, circle_position
from valuescope.stats.estimate import Estimate
from valuescope.stats.resampling import bootstrap, tie_p

_N = len(SCHWARTZ_VALUES)
_MIN_FINITE = 4  # three parameters and one residual degree of freedom


@dataclass(frozen=True)
class CosineFit:
    """change_v ~ offset + amplitude * cos(theta_v - theta_steered - phase).

    ``phase`` (radians, in (-pi, pi]) is how far the peak sits from the steered value: 0 = on it,
    pi = opposite.
    """

    amplitude: float
    phase: float
    r2: float
    offset: float


@dataclass(frozen=True)
class SideEffects:
    """Summary over steered edits, each Estimate with a bootstrap CI over items resampled within value.

    ``n`` of each Estimate counts the resampled units (items, or item groups). ``fits`` has one row per edit:
    steered (value name), amplitude, phase_deg, r2, signed_amplitude and the ten per-value mean changes.
    """

    amplitude: Estimate
    phase_deg: Estimate
    phase_rad: Estimate
    r2: Estimate
    signed_amplitude: Estimate
    fits: pd.DataFrame


def circle_angles(values: Sequence[str] = SCHWARTZ_VALUES) -> np.ndarray:
    """The circle angle 2*pi*position/10 of each of ``values`` (any spelling), in radians."""
    return np.array([2 * math.pi * circle_position(v) / _N for v in values], dtype=float)


def _wrap(x: float) -> float:
    """``x`` wrapped into (-pi, pi]."""
    w = math.remainder(x, 2 * math.pi)
    return math.pi if w <= -math.pi else w


def _fit(y: np.ndarray, steered: int, angles: np.ndarray) -> CosineFit | None:
    """The least-squares fit on the finite entries of ``y``; None when fewer than four are finite."""
    ok = np.isfinite(y)
    if int(ok.sum()) < _MIN_FINITE:
        return None
    yv, rel = y[ok], angles[ok] - angles[steered]
    mean = float(yv.mean())
    ss_tot = float(((yv - mean) ** 2).sum())
    if ss_tot <= len(yv) * (1e-12 * max(1.0, abs(mean))) ** 2:  # constant changes: nothing to fit
        return CosineFit(amplitude=0.0, phase=0.0, r2=0.0, offset=mean)
    design = np.column_stack([np.ones_like(rel), np.cos(rel), np.sin(rel)])
    coef = np.linalg.lstsq(design, yv, rcond=None)[0]
    ss_res = float(((yv - design @ coef) ** 2).sum())
    a, b = float(coef[1]), float(coef[2])
    amp = math.hypot(a, b)
    return CosineFit(
        amplitude=amp,
        phase=_wrap(math.atan2(b, a)) if amp > 0 else 0.0,
        r2=1.0 - ss_res / ss_tot,
        offset=float(coef[0]),
    )


def _check_steered(steered: int, n: int) -> int:
    if isinstance(steered, bool) or int(steered) != steered or not 0 <= steered < n:
        raise ValueError(f"steered must be an integer index in 0..{n - 1}, got {steered!r}")
    return int(steered)


def fit_cosine(changes: np.ndarray, steered: int, angles: np.ndarray | None = None) -> CosineFit:
    """Least squares of change_v = offset + a*cos(theta_v - theta_s) + b*sin(theta_v - theta_s).

    ``changes`` has one entry per value (``angles``' order, default the ten of :data:`SCHWARTZ_VALUES`);
    NaN entries are left out, at least four must be finite. amplitude = hypot(a, b) >= 0, phase =
    atan2(b, a) in (-pi, pi], r2 = 1 - SSres/SStot. Constant changes give amplitude 0, phase 0 and r2 0.
    """
    y = np.asarray(changes, dtype=float)
    ang = circle_angles() if angles is None else np.asarray(angles, dtype=float)
    if ang.ndim != 1 or not np.isfinite(ang).all():
        raise ValueError(f"angles must be a 1-D array of finite radians, got shape {ang.shape}")
    if y.shape != ang.shape:
        raise ValueError(f"changes must have shape {ang.shape} (one change per value), got {y.shape}")
    fit = _fit(y, _check_steered(steered, len(ang)), ang)
    if fit is None:
        raise ValueError(f"changes has {int(np.isfinite(y).sum())} finite entries; the fit needs >= 4")
    return fit


def signed_amplitude(fit: CosineFit) -> float:
    """amplitude * cos(phase): the cosine's part peaking on the steered value (> 0 = as the circle says)."""
    return fit.amplitude * math.cos(fit.phase)


def _value_means(changes: np.ndarray, item_value: np.ndarray) -> np.ndarray:
    """(n_steered, 10) mean change over each value's finite items (NaN where a value has none)."""
    ok = np.isfinite(changes)
    sums, counts = np.zeros((2, len(changes), _N))
    for v in range(_N):
        cols = item_value == v
        sums[:, v] = np.where(ok[:, cols], changes[:, cols], 0.0).sum(axis=1)
        counts[:, v] = ok[:, cols].sum(axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def circle_side_effects(
    changes: np.ndarray,
    steered: Sequence[int],
    item_value: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> SideEffects:
    """Fit the cosine to each steered edit's per-value changes and summarise over edits.

    ``changes`` (n_steered, n_items) holds per-item rating changes (NaN allowed), ``steered`` the circle
    index of each row's steered value and ``item_value`` (n_items,) the value each item measures; a value's
    change is the mean over its items. The summaries are means over edits of amplitude, r2 and signed
    amplitude, and the circular mean of phase. The bootstrap resamples items (or ``groups`` of items, each
    within one value) within value. The phase interval is taken around the point estimate, unwrapped, so it
    may pass +-180 degrees. An edit with < 4 finite values raises; on a resample it gives NaN.
    """
    y = np.asarray(changes, dtype=float)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"changes must be a non-empty 2-D array (n_steered, n_items), got shape {y.shape}")
    st = [_check_steered(s, _N) for s in steered]
    if len(st) != y.shape[0]:
        raise ValueError(f"steered has {len(st)} entries but changes has {y.shape[0]} rows (one per edit)")
    iv = np.asarray(item_value)
    if iv.shape != (y.shape[1],):
        raise ValueError(f"item_value must have shape ({y.shape[1]},) (one value per item), got {iv.shape}")
    if iv.dtype.kind not in "iu" or iv.min() < 0 or iv.max() >= _N:
        raise ValueError(f"item_value must hold integer value indices in 0..{_N - 1}")
    angles = circle_angles()

    cache: dict[bytes, np.ndarray] = {}  # the bootstraps share one seed, so their resamples repeat

    def summary(idx: np.ndarray) -> np.ndarray:
        """Mean amplitude, r2 and signed amplitude, and circular mean phase over edits (NaN if unfittable)."""
        key = idx.tobytes()
        if key not in cache:
            means = _value_means(y[:, idx], iv[idx])
            fits = [_fit(means[e], s, angles) for e, s in enumerate(st)]
            arr = np.array([[f.amplitude, f.r2, signed_amplitude(f), f.phase] for f in fits if f is not None])
            if len(arr) < len(fits):
                cache[key] = np.full(4, np.nan)
            else:
                phase = math.atan2(float(np.sin(arr[:, 3]).mean()), float(np.cos(arr[:, 3]).mean()))
                cache[key] = np.append(arr[:, :3].mean(axis=0), phase)
        return cache[key]

    means = _value_means(y, iv)
    bad = [SCHWARTZ_VALUES[s] for e, s in enumerate(st) if int(np.isfinite(means[e]).sum()) < _MIN_FINITE]
    if bad:
        raise ValueError(f"edits steering {bad} have fewer than 4 values with a finite change; cannot fit")
    full = [fit_cosine(means[e], s) for e, s in enumerate(st)]
    phi = float(summary(np.arange(y.shape[1]))[3])
    n_units = len(np.unique(np.arange(y.shape[1]) if groups is None else np.asarray(groups)))

    def estimate(stat: Callable[[np.ndarray], float]) -> Estimate:
        est, low, high = bootstrap(
            stat, y.shape[1], groups=groups, strata=iv, n_boot=n_boot, level=level, seed=seed
        )
        return Estimate(estimate=est, ci_low=low, ci_high=high, p=None, n=n_units)

    def column(k: int) -> Callable[[np.ndarray], float]:
        return lambda idx: float(summary(idx)[k])

    amp, r2, signed = (estimate(column(k)) for k in range(3))
    phase = estimate(lambda idx: phi + _wrap(float(summary(idx)[3]) - phi))
    low, high = math.degrees(phase.ci_low), math.degrees(phase.ci_high)
    deg = Estimate(estimate=math.degrees(phi), ci_low=low, ci_high=high, p=None, n=n_units)
    rows = [
        {
            "steered": SCHWARTZ_VALUES[s],
            "amplitude": f.amplitude,
            "phase_deg": math.degrees(f.phase),
            "r2": f.r2,
            "signed_amplitude": signed_amplitude(f),
            **dict(zip(SCHWARTZ_VALUES, means[e], strict=True)),
        }
        for e, (s, f) in enumerate(zip(st, full, strict=True))
    ]
    return SideEffects(
        amplitude=amp,
        phase_deg=deg,
        phase_rad=phase,
        r2=r2,
        signed_amplitude=signed,
        fits=pd.DataFrame(rows),
    )


def null_compare(observed: float, null_draws: np.ndarray) -> tuple[float, float]:
    """(observed - median of the null, one-sided p = (1 + #{null >= observed}) / (1 + n)).

    Near-ties count against ``observed`` (:func:`~valuescope.stats.resampling.tie_p`); NaN draws are an error.
    """
    nv = np.asarray(null_draws, dtype=float).reshape(-1)
    p = tie_p(observed, nv, alternative="greater")
    return float(observed - np.median(nv)), p


def human_circle_fit(corr: np.ndarray) -> float:
    """Spearman correlation of the 45 off-diagonal entries of a 10x10 inter-value correlation matrix
    (:data:`SCHWARTZ_VALUES` order) with cos(angle difference): 1 = perfectly circular. The reference is
    cos(2*pi*steps/10) of the circular step distance, so pairs equally far apart tie exactly. NaN if the
    45 entries are constant.
    """
    c = np.asarray(corr, dtype=float)
    if c.shape != (_N, _N):
        raise ValueError(f"corr must be a {_N}x{_N} matrix in SCHWARTZ_VALUES order, got shape {c.shape}")
    if not np.isfinite(c).all() or not np.allclose(c, c.T, atol=1e-8):
        raise ValueError("corr must be finite and symmetric")
    iu = np.triu_indices(_N, k=1)
    if np.ptp(c[iu]) == 0:
        return math.nan
    steps = np.abs(iu[0] - iu[1])
    rho = spearmanr(c[iu], np.cos(2 * np.pi * np.minimum(steps, _N - steps) / _N))[0]
    return float(rho)
