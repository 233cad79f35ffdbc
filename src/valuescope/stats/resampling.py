"""Resampling the unit that was sampled: the grouped bootstrap, permutation p-values (labels shuffled
within strata, or whole groups), tie tests and paired sign-flip tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from valuescope.stats.checks import (
    check_count,
    check_groups,
    check_level,
    constant_within,
    drop_nan,
    first_of_group,
    integer_codes,
)
from valuescope.stats.effects import auroc, auroc_weighted
from valuescope.stats.estimate import Alternative, Estimate

_TIE_TOL = 1e-12


_EXACT_SIGN_FLIP_MAX_GROUPS = 12


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n_rows: int,
    *,
    groups: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap over groups: (estimate on all rows, ci_low, ci_high).

    ``statistic`` receives an integer array of row indices: whole groups drawn with replacement (within
    each stratum of ``strata`` if given, so every resample keeps each stratum's group count); the rows of
    a group drawn twice appear twice. Resamples where the statistic is NaN are dropped; more than 10% NaN
    raises ValueError. The interval is widened where needed so that ci_low <= estimate <= ci_high.
    """
    check_level(level)
    draws = _GroupDraws(n_rows, groups, strata, n_boot)
    estimate = float(statistic(np.arange(n_rows)))
    if np.isnan(estimate):
        raise ValueError("the statistic is NaN on the full data; nothing to bootstrap")
    stats = np.array([float(statistic(rows)) for rows in draws.rows(seed)])
    return _percentile_interval(estimate, stats, level)


def bootstrap_counts(
    n_rows: int,
    *,
    groups: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """How many times each row is in each of :func:`bootstrap`'s resamples: (n_boot, n_rows) integers,
    from the same draws (the same ``seed`` gives the same resamples). A statistic that takes row weights
    can then be computed on every resample at once."""
    draws = _GroupDraws(n_rows, groups, strata, n_boot)
    return draws.counts(seed)


def bootstrap_auroc(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``bootstrap(lambda idx: auroc(scores[idx], labels[idx]), len(scores), ...)``: the same resamples
    and the same numbers, computed on every resample at once (from row counts, not by ranking each)."""
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    estimate = auroc(s, lab)  # checks the shapes and labels
    check_level(level)
    draws = _GroupDraws(len(s), groups, strata, n_boot)
    if np.isnan(estimate):
        raise ValueError("the statistic is NaN on the full data; nothing to bootstrap")
    stats = auroc_weighted(s, lab.astype(bool), draws.counts(seed))
    return _percentile_interval(estimate, stats, level)


class _GroupDraws:
    """The grouped bootstrap's resamples: whole groups drawn with replacement within each stratum."""

    def __init__(
        self, n_rows: int, groups: np.ndarray | None, strata: np.ndarray | None, n_boot: int
    ) -> None:
        check_count(n_rows, "n_rows")
        check_count(n_boot, "n_boot")
        g = check_groups(groups, n_rows, "groups")
        g_codes, n_groups = integer_codes(g)
        if strata is None:
            s_codes = np.zeros(n_groups, dtype=np.intp)
        else:
            s_rows = check_groups(strata, n_rows, "strata")
            if not constant_within(s_rows, g_codes, n_groups):
                raise ValueError("strata must be constant within each group (a group belongs to one stratum)")
            s_codes = first_of_group(integer_codes(s_rows)[0], g_codes, n_groups)
        self.g_codes, self.n_groups, self.n_boot = g_codes, n_groups, n_boot
        self.members = [np.flatnonzero(s_codes == s) for s in np.unique(s_codes)]

    def groups_drawn(self, seed: int) -> Iterator[np.ndarray]:
        """Per resample, the codes of the groups drawn (a group drawn twice appears twice)."""
        rng = np.random.default_rng(seed)
        for _ in range(self.n_boot):
            yield np.concatenate([m[rng.integers(0, len(m), len(m))] for m in self.members])

    def rows(self, seed: int) -> Iterator[np.ndarray]:
        """Per resample, the row indices of the groups drawn, group by group."""
        order = np.argsort(self.g_codes, kind="stable")  # rows laid out group by group
        lengths = np.bincount(self.g_codes, minlength=self.n_groups)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for drawn in self.groups_drawn(seed):
            lens = lengths[drawn]
            total = int(lens.sum())
            offsets = np.repeat(starts[drawn] - (np.cumsum(lens) - lens), lens)
            yield order[offsets + np.arange(total)]

    def counts(self, seed: int) -> np.ndarray:
        """(n_boot, n_rows): how many times each row is in each resample."""
        per_group = np.stack([np.bincount(d, minlength=self.n_groups) for d in self.groups_drawn(seed)])
        return per_group[:, self.g_codes]


def _percentile_interval(estimate: float, stats: np.ndarray, level: float) -> tuple[float, float, float]:
    """(estimate, low, high): the percentile interval of the resampled ``stats`` (NaN ones dropped),
    widened where needed to hold the estimate."""
    kept = drop_nan(stats, "bootstrap resamples")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(kept, [alpha, 1.0 - alpha])
    return estimate, float(min(low, estimate)), float(max(high, estimate))


def _p_value(observed: float, null: np.ndarray, alternative: Alternative, *, plus_one: bool) -> float:
    if alternative == "two-sided":
        extreme = np.abs(null) >= abs(observed) - _TIE_TOL
    elif alternative == "greater":
        extreme = null >= observed - _TIE_TOL
    elif alternative == "less":
        extreme = null <= observed + _TIE_TOL
    else:
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    k = int(extreme.sum())
    return (1 + k) / (1 + len(null)) if plus_one else k / len(null)


def _shuffle_within(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation ``perm`` of positions that only moves items inside their block (``codes``).

    ``values[perm]`` is ``values`` shuffled within each block.
    """
    order = np.argsort(codes, kind="stable")
    shuffled = np.lexsort((rng.random(len(codes)), codes))
    perm = np.empty(len(codes), dtype=np.intp)
    perm[order] = shuffled
    return perm


def permutation_p(
    statistic: Callable[[np.ndarray], float],
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    within: np.ndarray | None = None,
    n_perm: int = 2000,
    seed: int = 0,
    alternative: Alternative = "two-sided",
) -> float:
    """Permutation p-value of ``statistic(labels)``, permuting labels the way the design allows.

    ``statistic`` receives a label array aligned with the rows (the original, then permuted copies).
    If the labels are constant within every group, whole groups' labels are permuted among groups (only
    among groups of the same ``within`` stratum if given; ``within`` is per row, constant within a
    group). If labels vary within groups (a paired design), they are shuffled within each group instead.

    p = (1 + #{T* as or more extreme than T}) / (1 + n_perm), with a 1e-12 tolerance for ties. For
    ``"two-sided"`` extremeness is ``|T*| >= |T|``, so the statistic should be centred on 0 under the
    null (a difference, AUROC - 0.5, ...). Permutations where the statistic is NaN are dropped (more than
    10% raises ValueError).
    """
    check_count(n_perm, "n_perm")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D (one label per row), got shape {lab.shape}")
    n_rows = len(lab)
    if n_rows == 0:
        raise ValueError("labels is empty")
    g = check_groups(groups, n_rows, "groups")
    g_codes, n_groups = integer_codes(g)
    if within is not None:
        w_rows = check_groups(within, n_rows, "within")
        if not constant_within(w_rows, g_codes, n_groups):
            raise ValueError("within must be constant within each group (a group belongs to one stratum)")
    observed = float(statistic(lab.copy()))
    if np.isnan(observed):
        raise ValueError("the statistic is NaN on the observed labels")

    rng = np.random.default_rng(seed)
    null = np.empty(n_perm)
    if constant_within(lab, g_codes, n_groups):
        group_labels = first_of_group(lab, g_codes, n_groups)
        if within is None:
            w_groups = np.zeros(n_groups, dtype=np.intp)
        else:
            w_groups = first_of_group(integer_codes(w_rows)[0], g_codes, n_groups)
        for i in range(n_perm):
            permuted = group_labels[_shuffle_within(w_groups, rng)]
            null[i] = float(statistic(permuted[g_codes]))
    else:
        for i in range(n_perm):
            null[i] = float(statistic(lab[_shuffle_within(g_codes, rng)]))
    null = drop_nan(null, "permutations")
    return _p_value(observed, null, alternative, plus_one=True)


def tie_p(
    observed: float,
    null: np.ndarray | Sequence[float],
    *,
    alternative: Alternative = "greater",
    rtol: float = 1e-9,
) -> float:
    """Rank p of ``observed`` among ``null`` draws, ties counted against the observed value.

    p = (1 + #{draws at least as extreme as ``observed``}) / (1 + n). "greater": draws >= observed;
    "less": draws <= observed; "two-sided": |draw| >= |observed|. Draws within ``rtol`` x max(1, |observed|)
    (plus 1e-12) of ``observed`` count as ties, so floating-point noise never makes an edit look better
    than a control that did the same. NaN draws are an error (drop them first).
    """
    nv = np.asarray(null, dtype=float).reshape(-1)
    if len(nv) == 0:
        raise ValueError("the null has no draws")
    if np.isnan(nv).any() or not np.isfinite(observed):
        raise ValueError("the null or the observed value is not finite; drop or explain those draws first")
    tol = _TIE_TOL + rtol * max(1.0, abs(float(observed)))
    if alternative == "greater":
        extreme = nv >= observed - tol
    elif alternative == "less":
        extreme = nv <= observed + tol
    elif alternative == "two-sided":
        extreme = np.abs(nv) >= abs(observed) - tol
    else:
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    return (1 + int(extreme.sum())) / (1 + len(nv))


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_boot: int = 2000,
    n_perm: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Mean paired difference a - b over groups, with a group bootstrap CI and a sign-flip p-value.

    Rows are averaged within each group first, so every group weighs the same. The two-sided p flips
    the sign of whole groups' mean differences: exact enumeration of all 2^G flips when there are at
    most 12 groups (p = #{|T*| >= |T|} / 2^G), otherwise ``n_perm`` random flips with the +1 rule.
    """
    av = np.asarray(a, dtype=float)
    bv = np.asarray(b, dtype=float)
    if av.ndim != 1 or bv.ndim != 1:
        raise ValueError(f"a and b must be 1-D, got shapes {av.shape} and {bv.shape}")
    if len(av) != len(bv):
        raise ValueError(f"a has {len(av)} entries but b has {len(bv)}; paired values need equal lengths")
    if len(av) == 0:
        raise ValueError("a and b are empty")
    diff = av - bv
    if np.isnan(diff).any():
        raise ValueError("a or b contains NaN; drop those pairs first")
    check_count(n_perm, "n_perm")
    g = check_groups(groups, len(diff), "groups")
    g_codes, n_groups = integer_codes(g)
    group_means = np.bincount(g_codes, weights=diff, minlength=n_groups) / np.bincount(g_codes)

    est, low, high = bootstrap(
        lambda idx: float(group_means[idx].mean()), n_groups, n_boot=n_boot, level=level, seed=seed
    )
    if n_groups <= _EXACT_SIGN_FLIP_MAX_GROUPS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n_groups)))
        p = _p_value(est, signs @ group_means / n_groups, "two-sided", plus_one=False)
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice(np.array([1.0, -1.0]), size=(n_perm, n_groups))
        p = _p_value(est, signs @ group_means / n_groups, "two-sided", plus_one=True)
    return Estimate(estimate=est, ci_low=low, ci_high=high, p=p, n=n_groups)
