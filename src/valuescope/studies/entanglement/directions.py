"""Value directions on item-by-feature matrices, the edit side of the entanglement study.

A direction is a difference of class means (``diff_of_means``), or one weighted to vary least on
neutral text (``quiet_direction``); two directions are compared by their cosine against a
random-direction null (``cosine_vs_null``), a direction's reach across contrasts by the AUROC of
projected test items (``transfer_auroc``), and an edit's effect against random-direction edits by its
rank among them (``rank_p``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from valuescope import stats
from valuescope.stats import Alternative, Estimate, integer_codes
from valuescope.stats.checks import unit_vector

__all__ = [
    "auroc_permutation_statistic",
    "cosine",
    "cosine_vs_null",
    "diff_of_means",
    "quiet_direction",
    "rank_p",
    "transfer_auroc",
]


_TIE_TOL = 1e-12


def _bool_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """1-D bool labels from bool or 0/1 values; ValueError otherwise or if a class is missing."""
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {lab.shape}")
    if lab.dtype != bool:
        if not np.isin(lab, [0, 1]).all():
            raise ValueError(f"{name} must be bool or 0/1")
        lab = lab.astype(bool)
    if lab.all() or not lab.any():
        raise ValueError(f"{name} need both classes")
    return lab


def diff_of_means(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit direction mean(x[positive]) - mean(x[negative]); ``labels`` bool or 0/1, True/1 positive."""
    xa = np.asarray(x, dtype=float)
    lab = _bool_labels(labels, "labels")
    if xa.ndim != 2 or len(lab) != len(xa):
        raise ValueError(f"x must be (items, features) with one label per item; got {xa.shape}, {lab.shape}")
    return unit_vector(xa[lab].mean(axis=0) - xa[~lab].mean(axis=0), "the difference of class means")


def quiet_direction(
    x: np.ndarray, labels: np.ndarray, reference: np.ndarray, shrinkage: float = 0.1
) -> np.ndarray:
    """Unit direction carrying the class difference of ``x`` while varying least on ``reference``.

    u ∝ (S + shrinkage · tr(S)/d · I)^-1 (mean(x[positive]) - mean(x[negative])), S the covariance
    of ``reference`` (tokens, d): among directions with the same projected class difference it has
    the smallest variance on the reference text, so projecting it out (or setting it to its mean)
    moves ordinary text least. A plain difference of means in a model with a few massive-activation
    dimensions mostly points along them. ``shrinkage`` > 0 keeps the solve well posed when there
    are fewer reference tokens than dimensions; as it grows the result tends to ``diff_of_means``.
    """
    xa = np.asarray(x, dtype=float)
    lab = _bool_labels(labels, "labels")
    ref = np.asarray(reference, dtype=float)
    if xa.ndim != 2 or len(lab) != len(xa):
        raise ValueError(f"x must be (items, features) with one label per item; got {xa.shape}, {lab.shape}")
    if ref.ndim != 2 or ref.shape[1] != xa.shape[1] or len(ref) < 2:
        raise ValueError(f"reference must be (tokens >= 2, {xa.shape[1]}), got shape {ref.shape}")
    if not shrinkage > 0 or not np.isfinite(shrinkage):
        raise ValueError(f"shrinkage must be a positive number, got {shrinkage}")
    cov = np.cov(ref, rowvar=False)
    d = cov.shape[0]
    ridge = shrinkage * float(np.trace(cov)) / d
    if not ridge > 0:
        raise ValueError("reference has no variance; it cannot weigh the directions")
    delta = xa[lab].mean(axis=0) - xa[~lab].mean(axis=0)
    return unit_vector(np.linalg.solve(cov + ridge * np.eye(d), delta), "the weighted class difference")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two 1-D vectors of equal length (ValueError on a zero vector)."""
    ua, ub = unit_vector(a, "a"), unit_vector(b, "b")
    if ua.shape != ub.shape:
        raise ValueError(f"a and b differ in length: {ua.shape} vs {ub.shape}")
    return float(np.clip(ua @ ub, -1.0, 1.0))


def cosine_vs_null(a: np.ndarray, b: np.ndarray, null: np.ndarray) -> tuple[float, float]:
    """(cosine of a and b, two-sided p): p = (1 + #{|null| >= |cos|}) / (1 + len(null)), ties counting
    against the observed cosine (``stats.tie_p``)."""
    c = cosine(a, b)
    return c, stats.tie_p(c, _null_values(null), alternative="two-sided")


def transfer_auroc(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    groups_test: np.ndarray,
    *,
    n_boot: int = 2000,
    n_perm: int = 2000,
    seed: int = 0,
) -> Estimate:
    """AUROC of test items scored by projection on the diff-of-means direction of the training contrast.

    The CI resamples whole test groups (frames). The one-sided p (alternative "greater", statistic
    AUROC - 0.5) permutes ``y_test`` with ``stats.permutation_p`` over ``groups_test``: within groups
    when labels vary inside them, else among whole groups. The direction is fixed (fit on the training
    items only), so it is not refitted. ``n`` is the number of test groups.
    """
    direction = diff_of_means(x_train, y_train)
    xt = np.asarray(x_test, dtype=float)
    if xt.ndim != 2 or xt.shape[1] != len(direction):
        raise ValueError(f"x_test must be (items, {len(direction)}), got shape {xt.shape}")
    projected = xt @ direction
    labels = _bool_labels(y_test, "y_test")
    g = stats.check_groups(groups_test, len(projected), "groups_test")
    codes, n_groups = integer_codes(g)
    est, low, high = stats.bootstrap_auroc(projected, labels, groups=codes, n_boot=n_boot, seed=seed)
    p = stats.permutation_p(
        auroc_permutation_statistic(projected),
        labels,
        groups=codes,
        n_perm=n_perm,
        seed=seed,
        alternative="greater",
    )
    return Estimate(estimate=est, ci_low=low, ci_high=high, p=p, n=n_groups)


def auroc_permutation_statistic(scores: np.ndarray) -> Callable[[np.ndarray], float]:
    """AUROC - 0.5 of fixed ``scores`` under any labelling: the scores are ranked once, not per
    permutation (the same arithmetic as :func:`stats.auroc`, so the same floats)."""
    ranks = None if np.isnan(scores).any() else rankdata(scores)

    def statistic(lab: np.ndarray) -> float:
        mask = np.asarray(lab, dtype=bool)
        n_pos = int(mask.sum())
        n_neg = len(mask) - n_pos
        if ranks is None or n_pos == 0 or n_neg == 0:
            return float("nan")
        u = float(ranks[mask].sum()) - n_pos * (n_pos + 1) / 2.0
        return u / (n_pos * n_neg) - 0.5

    return statistic


def _null_values(null: np.ndarray) -> np.ndarray:
    nv = np.asarray(null, dtype=float).reshape(-1)
    if len(nv) == 0:
        raise ValueError("the null is empty")
    if np.isnan(nv).any():
        raise ValueError("the null contains NaN")
    return nv


def rank_p(observed: float, null: np.ndarray, *, alternative: Alternative = "less") -> float:
    """Rank p-value of ``observed`` among null values (e.g. entanglement after random-direction edits).

    "less": (1 + #{null <= observed}) / (1 + n) (a repair should lower entanglement); "greater":
    (1 + #{null >= observed}) / (1 + n); "two-sided": twice the smaller of the two, capped at 1.
    """
    nv = _null_values(null)
    less = (1 + int((nv <= observed + _TIE_TOL).sum())) / (1 + len(nv))
    greater = (1 + int((nv >= observed - _TIE_TOL).sum())) / (1 + len(nv))
    if alternative == "less":
        return less
    if alternative == "greater":
        return greater
    if alternative == "two-sided":
        return min(1.0, 2.0 * min(less, greater))
    raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
