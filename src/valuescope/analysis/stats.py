"""Shared statistics: grouped bootstrap and permutation, paired tests, FDR, honest layer choice.

Conventions every study follows:

- Resample the unit that was sampled. Rows that share a unit (a base sentence with all its versions, a
  lemma with its inflections, a query with its responses) share a group id, and the bootstrap and the
  permutation tests move whole groups; ``groups=None`` means every row is its own unit.
- A metric reported at a "best" layer is chosen on a random half of the groups (``choose_layer``) and
  its estimate, CI and any after-edit value are computed on the other half at that same layer.
- Many layers or values tested at once: Benjamini-Hochberg FDR (``fdr_bh``).
- Models or conditions compared on the same items: paired tests (``paired_difference``, or
  ``permutation_p`` with labels that vary within groups).

All randomness comes from ``np.random.default_rng(seed)``; results are deterministic for a given seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "Estimate",
    "LayerChoice",
    "NullSummary",
    "auroc",
    "bootstrap",
    "check_groups",
    "choose_layer",
    "cohens_d",
    "fdr_bh",
    "grouped_folds",
    "paired_difference",
    "permutation_p",
    "split_half",
    "summarize_null",
    "tie_p",
]

Alternative = Literal["two-sided", "greater", "less"]

_TIE_TOL = 1e-12
_MAX_NAN_FRACTION = 0.10
_EXACT_SIGN_FLIP_MAX_GROUPS = 12


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval, p-value (if tested) and number of independent units."""

    estimate: float
    ci_low: float
    ci_high: float
    p: float | None
    n: int  # independent units (groups), not rows

    def as_metric(self, **extra: Any) -> dict[str, Any]:
        """The metric dict studies report: estimate, ci_low, ci_high, p, n, plus ``extra`` keys not None."""
        out: dict[str, Any] = {
            "estimate": float(self.estimate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "p": None if self.p is None else float(self.p),
            "n": int(self.n),
        }
        clash = sorted(set(extra) & set(out))
        if clash:
            raise ValueError(f"as_metric extra keys {clash} would overwrite the estimate's own fields")
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


@dataclass(frozen=True)
class LayerChoice:
    """The layer picked on the selection half, the two row masks, and every layer's selection score."""

    layer: int
    select: np.ndarray
    report: np.ndarray
    scores: dict[int, float]


# ----------------------------------------------------------------------------------------------------------
# validation helpers


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


def _codes(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 for the distinct values of ``ids``, and k."""
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.reshape(-1).astype(np.intp), len(uniq)


def _constant_within(values: np.ndarray, group_codes: np.ndarray, n_groups: int) -> bool:
    """Whether ``values`` (per row) takes a single value inside every group."""
    v_codes, n_v = _codes(values)
    pairs = group_codes.astype(np.int64) * max(n_v, 1) + v_codes
    return len(np.unique(pairs)) == n_groups


def _group_values(values: np.ndarray, group_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """One value per group (the value of its first row); assumes ``values`` is constant within groups."""
    first = np.full(n_groups, -1, dtype=np.intp)
    rows = np.arange(len(group_codes))
    # reversed assignment leaves the first row of each group
    first[group_codes[::-1]] = rows[::-1]
    return values[first]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _check_count(value: int, name: str) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")


def _drop_nan(values: np.ndarray, what: str) -> np.ndarray:
    bad = np.isnan(values)
    if bad.mean() > _MAX_NAN_FRACTION:
        raise ValueError(
            f"the statistic was NaN in {int(bad.sum())} of {len(values)} {what} (more than "
            f"{_MAX_NAN_FRACTION:.0%}); it is undefined on many resamples (e.g. a resample without both "
            "classes). Use larger groups or strata, or a statistic defined on every resample"
        )
    return values[~bad]


# ----------------------------------------------------------------------------------------------------------
# bootstrap


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
    _check_count(n_rows, "n_rows")
    _check_count(n_boot, "n_boot")
    _check_level(level)
    g = check_groups(groups, n_rows, "groups")
    g_codes, n_groups = _codes(g)
    if strata is None:
        s_codes = np.zeros(n_groups, dtype=np.intp)
    else:
        s_rows = check_groups(strata, n_rows, "strata")
        if not _constant_within(s_rows, g_codes, n_groups):
            raise ValueError("strata must be constant within each group (a group belongs to one stratum)")
        s_codes = _group_values(_codes(s_rows)[0], g_codes, n_groups)

    estimate = float(statistic(np.arange(n_rows)))
    if np.isnan(estimate):
        raise ValueError("the statistic is NaN on the full data; nothing to bootstrap")

    order = np.argsort(g_codes, kind="stable")  # rows laid out group by group
    lengths = np.bincount(g_codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    members = [np.flatnonzero(s_codes == s) for s in np.unique(s_codes)]

    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        drawn = np.concatenate([m[rng.integers(0, len(m), len(m))] for m in members])
        lens = lengths[drawn]
        total = int(lens.sum())
        offsets = np.repeat(starts[drawn] - (np.cumsum(lens) - lens), lens)
        stats[b] = float(statistic(order[offsets + np.arange(total)]))
    stats = _drop_nan(stats, "bootstrap resamples")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return estimate, float(min(low, estimate)), float(max(high, estimate))


# ----------------------------------------------------------------------------------------------------------
# permutation tests


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
    _check_count(n_perm, "n_perm")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D (one label per row), got shape {lab.shape}")
    n_rows = len(lab)
    if n_rows == 0:
        raise ValueError("labels is empty")
    g = check_groups(groups, n_rows, "groups")
    g_codes, n_groups = _codes(g)
    if within is not None:
        w_rows = check_groups(within, n_rows, "within")
        if not _constant_within(w_rows, g_codes, n_groups):
            raise ValueError("within must be constant within each group (a group belongs to one stratum)")
    observed = float(statistic(lab.copy()))
    if np.isnan(observed):
        raise ValueError("the statistic is NaN on the observed labels")

    rng = np.random.default_rng(seed)
    null = np.empty(n_perm)
    if _constant_within(lab, g_codes, n_groups):
        group_labels = _group_values(lab, g_codes, n_groups)
        if within is None:
            w_groups = np.zeros(n_groups, dtype=np.intp)
        else:
            w_groups = _group_values(_codes(w_rows)[0], g_codes, n_groups)
        for i in range(n_perm):
            permuted = group_labels[_shuffle_within(w_groups, rng)]
            null[i] = float(statistic(permuted[g_codes]))
    else:
        for i in range(n_perm):
            null[i] = float(statistic(lab[_shuffle_within(g_codes, rng)]))
    null = _drop_nan(null, "permutations")
    return _p_value(observed, null, alternative, plus_one=True)


# ----------------------------------------------------------------------------------------------------------
# nulls given as draws: tie-tolerant rank p and a summary that contains its own estimate


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


@dataclass(frozen=True)
class NullSummary:
    """A null given as draws: median, the central ``level`` range widened to contain the median, SD, count."""

    median: float
    low: float
    high: float
    sd: float
    n: int
    level: float = 0.95

    @property
    def spread(self) -> float:
        """Largest minus smallest draw of the central range (0 when the draws are all equal)."""
        return self.high - self.low

    def describe(self, digits: int = 3) -> str:
        """E.g. "20 draws, median 0.041, 95% range [0.030, 0.052], SD 0.006"."""
        f = f".{digits}f"
        return (
            f"{self.n} draws, median {self.median:{f}}, {100 * self.level:.0f}% range "
            f"[{self.low:{f}}, {self.high:{f}}], SD {self.sd:.{digits}g}"
        )


def summarize_null(null: np.ndarray | Sequence[float], level: float = 0.95) -> NullSummary:
    """Median, central ``level`` quantile range and SD of the finite draws of ``null``.

    The range is widened to contain the median, so an interval built from it always contains its estimate
    (a mean of equal floats can fall an ulp outside their quantiles; a median cannot escape this).
    """
    _check_level(level)
    nv = np.asarray(null, dtype=float).reshape(-1)
    nv = nv[np.isfinite(nv)]
    if len(nv) == 0:
        raise ValueError("the null has no finite draws")
    alpha = (1.0 - level) / 2.0
    med = float(np.median(nv))
    lo, hi = (float(q) for q in np.quantile(nv, [alpha, 1.0 - alpha]))
    sd = float(nv.std(ddof=1)) if len(nv) > 1 else 0.0
    return NullSummary(median=med, low=min(lo, med), high=max(hi, med), sd=sd, n=len(nv), level=level)


# ----------------------------------------------------------------------------------------------------------
# effect sizes


def cohens_d(x: np.ndarray, y: np.ndarray) -> float:
    """(mean x - mean y) / pooled SD (ddof=1); NaN if undefined (fewer than 2 values or zero spread)."""
    xa = np.asarray(x, dtype=float).reshape(-1)
    ya = np.asarray(y, dtype=float).reshape(-1)
    nx, ny = len(xa), len(ya)
    if nx < 1 or ny < 1 or nx + ny < 3:
        return float("nan")
    ssx = float(((xa - xa.mean()) ** 2).sum())
    ssy = float(((ya - ya.mean()) ** 2).sum())
    pooled = np.sqrt((ssx + ssy) / (nx + ny - 2))
    if not pooled > 0:
        return float("nan")
    return float((xa.mean() - ya.mean()) / pooled)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg)), ties counting 0.5.

    ``labels`` are bool or 0/1, positives being True/1. NaN if a class is empty or a score is NaN.
    """
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    if s.ndim != 1 or lab.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {s.shape} and {lab.shape}")
    if len(s) != len(lab):
        raise ValueError(f"scores has {len(s)} entries but labels has {len(lab)}")
    if lab.dtype != bool:
        if not np.isin(lab, [0, 1]).all():
            raise ValueError("labels must be bool or 0/1")
        lab = lab.astype(bool)
    n_pos = int(lab.sum())
    n_neg = len(lab) - n_pos
    if n_pos == 0 or n_neg == 0 or np.isnan(s).any():
        return float("nan")
    ranks = rankdata(s)
    u = float(ranks[lab].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


# ----------------------------------------------------------------------------------------------------------
# paired comparison


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
    _check_count(n_perm, "n_perm")
    g = check_groups(groups, len(diff), "groups")
    g_codes, n_groups = _codes(g)
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


# ----------------------------------------------------------------------------------------------------------
# multiple testing


def fdr_bh(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted q-values (monotone in p, capped at 1); NaN entries pass through.

    m is the number of non-NaN p-values.
    """
    pv = np.asarray(p, dtype=float)
    if pv.ndim != 1:
        raise ValueError(f"p must be 1-D, got shape {pv.shape}")
    q = np.full(pv.shape, np.nan)
    ok = ~np.isnan(pv)
    vals = pv[ok]
    if ((vals < 0) | (vals > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    m = len(vals)
    if m == 0:
        return q
    order = np.argsort(vals, kind="stable")
    ranked = vals[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[ok] = out
    return q


# ----------------------------------------------------------------------------------------------------------
# honest layer choice and grouped cross-validation


def _group_ids(groups: np.ndarray) -> tuple[np.ndarray, int]:
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise ValueError(f"groups must be 1-D (one id per row), got shape {arr.shape}")
    return _codes(check_groups(arr, len(arr), "groups"))


def split_half(groups: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random split of whole groups into two halves: boolean row masks (select, report).

    The selection half gets floor(G/2) groups and the report half the rest. ValueError if < 2 groups.
    """
    g_codes, n_groups = _group_ids(groups)
    if n_groups < 2:
        raise ValueError(f"groups has {n_groups} distinct group(s); split_half needs at least 2")
    perm = np.random.default_rng(seed).permutation(n_groups)
    chosen = np.zeros(n_groups, dtype=bool)
    chosen[perm[: n_groups // 2]] = True
    select = chosen[g_codes]
    return select, ~select


def choose_layer(
    score: Callable[[int, np.ndarray], float],
    layers: Sequence[int],
    groups: np.ndarray,
    *,
    seed: int = 0,
    higher_is_better: bool = True,
) -> LayerChoice:
    """Pick the best layer on a random half of the groups; report on the other half (``choice.report``).

    ``score(layer, row_mask)`` is called once per layer with the selection-half mask. Ties go to the
    earliest layer in ``layers``; NaN scores never win (all NaN raises ValueError).
    """
    layer_list = [int(layer) for layer in layers]
    if not layer_list:
        raise ValueError("layers is empty")
    if len(set(layer_list)) != len(layer_list):
        raise ValueError(f"layers has duplicates: {layer_list}")
    select, report = split_half(groups, seed=seed)
    scores = {layer: float(score(layer, select.copy())) for layer in layer_list}
    best: int | None = None
    for layer in layer_list:
        s = scores[layer]
        if np.isnan(s):
            continue
        if best is None or (s > scores[best] if higher_is_better else s < scores[best]):
            best = layer
    if best is None:
        raise ValueError("score returned NaN for every layer on the selection half")
    return LayerChoice(layer=best, select=select, report=report, scores=scores)


def grouped_folds(groups: np.ndarray, k: int, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k cross-validation folds of whole groups: (train_mask, test_mask) per fold.

    Groups are shuffled and dealt into k folds whose group counts differ by at most 1; every group is in
    exactly one test fold and never on both sides. Needs 2 <= k <= number of groups.
    """
    g_codes, n_groups = _group_ids(groups)
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k}")
    if k > n_groups:
        raise ValueError(f"k={k} folds but groups has only {n_groups} distinct groups")
    perm = np.random.default_rng(seed).permutation(n_groups)
    fold_of_group = np.empty(n_groups, dtype=np.intp)
    fold_of_group[perm] = np.arange(n_groups) % k
    fold_of_row = fold_of_group[g_codes]
    return [(fold_of_row != f, fold_of_row == f) for f in range(int(k))]
