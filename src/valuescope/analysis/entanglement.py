"""Value-entanglement metrics: does moral goodness leak into non-moral (grammatical, economic) judgments?

Design (Cho, Li & Leshinskaya 2026): one row per item, a version of a base sentence. Columns used by name:

- ``frame``: the sampling unit. A frame holds several base sentences with all their versions; every
  bootstrap resample draws whole frames (all their rows together), and ``Estimate.n`` counts frames.
- ``base``: a base-sentence id, nested in one frame.
- ``valence``: ``'good'`` or ``'bad'``, constant within a base.
- a non-moral level column (``version``: ``'grammatical'``/``'ungrammatical'``, ``'good_deal'``/...).
- a rating or score column.

Permutation tests move whole base sentences (each keeps all its versions and one valence). Since every
base carries every non-moral level, permuting bases' valence permutes it within each level. The labels
are permuted within frames when every frame holds both classes (keeping each frame's balance, so frame
effects stay out of the null), otherwise among all bases.

The edit side (``diff_of_means`` ... ``repair_verdict``) works on item-by-feature matrices: value
directions, their cosines against a random-direction null, transfer of a direction across contrasts,
variance-matched random directions as the control for a repair, and the verdict on a repair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from valuescope.analysis import stats
from valuescope.analysis.stats import Estimate, auroc, cohens_d

__all__ = [
    "cosine",
    "cosine_vs_null",
    "describe_entanglement",
    "diff_of_means",
    "discrimination",
    "entanglement_estimate",
    "entanglement_index",
    "logprob_adjusted_index",
    "matched_random_directions",
    "rank_p",
    "repair_verdict",
    "transfer_auroc",
    "uninterpretable",
]

Alternative = Literal["two-sided", "greater", "less"]
Verdict = Literal[
    "works", "entanglement unchanged", "damages discrimination", "no entanglement to repair",
    "controls not computable",
]  # fmt: skip

_GOOD, _BAD = "good", "bad"
_TIE_TOL = 1e-12
_MATCH_TOL = 0.05
_TILT_BOUND = 2.0**20
_TILT_STEPS = 100

# ----------------------------------------------------------------------------------------------------------
# data helpers


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        raise KeyError(f"column {name!r} not in the data; columns are {list(df.columns)}")
    return df[name].to_numpy()


def _numeric(df: pd.DataFrame, name: str) -> np.ndarray:
    values = np.asarray(_column(df, name), dtype=float)
    if np.isnan(values).any():
        raise ValueError(
            f"column {name!r} has {int(np.isnan(values).sum())} NaN values; drop those rows first"
        )
    return values


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 for the distinct values, and k."""
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.reshape(-1).astype(np.intp), len(uniq)


def _good_mask(df: pd.DataFrame, valence: str) -> np.ndarray:
    """True for 'good' rows; ValueError on any other value than 'good'/'bad', or a missing class."""
    values = _column(df, valence).astype(str)
    unknown = sorted(set(values) - {_GOOD, _BAD})
    if unknown:
        raise ValueError(f"column {valence!r} must hold only 'good'/'bad', found {unknown}")
    good = values == _GOOD
    if good.all() or not good.any():
        raise ValueError(f"column {valence!r} needs both 'good' and 'bad' rows")
    return good


def _constant_within(values: np.ndarray, group_codes: np.ndarray) -> bool:
    """Whether ``values`` takes one value inside every group."""
    v_codes, n_v = _codes(values)
    pairs = group_codes.astype(np.int64) * max(n_v, 1) + v_codes
    return len(np.unique(pairs)) == len(np.unique(group_codes))


def _design(df: pd.DataFrame, groups: str, base: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame codes, base codes, number of frames); ValueError unless every base lies in one frame."""
    frames, n_frames = _codes(_column(df, groups))
    bases, _ = _codes(_column(df, base))
    if not _constant_within(frames, bases):
        raise ValueError(f"every {base!r} must lie in a single {groups!r} (bases are nested in frames)")
    return frames, bases, n_frames


def _permutation_strata(labels: np.ndarray, frames: np.ndarray) -> np.ndarray | None:
    """``frames`` if every frame holds both label classes (permute within frames), else None (among all)."""
    n_frames = int(frames.max()) + 1
    pos = np.bincount(frames, weights=labels.astype(float), minlength=n_frames)
    size = np.bincount(frames, minlength=n_frames)
    return frames if bool(((pos > 0) & (pos < size)).all()) else None


# ----------------------------------------------------------------------------------------------------------
# the entanglement index


def _index(scores: np.ndarray, good: np.ndarray, levels: np.ndarray, n_levels: int) -> float:
    """Item-weighted mean over levels of Cohen's d (good - bad); levels where d is undefined are skipped."""
    total = 0.0
    weight = 0
    for lev in range(n_levels):
        in_level = levels == lev
        d = cohens_d(scores[in_level & good], scores[in_level & ~good])
        if np.isnan(d):
            continue
        size = int(in_level.sum())
        total += size * d
        weight += size
    return total / weight if weight else float("nan")


def _residualise(scores: np.ndarray, logprob: np.ndarray, levels: np.ndarray, n_levels: int) -> np.ndarray:
    """``scores`` minus a pooled OLS slope on ``logprob`` with one intercept per level (within-level fit)."""
    counts = np.bincount(levels, minlength=n_levels)
    safe = np.maximum(counts, 1)
    s_c = scores - (np.bincount(levels, weights=scores, minlength=n_levels) / safe)[levels]
    lp_c = logprob - (np.bincount(levels, weights=logprob, minlength=n_levels) / safe)[levels]
    ss = float(lp_c @ lp_c)
    slope = float(lp_c @ s_c) / ss if ss > 0 else 0.0
    return s_c - slope * lp_c


def entanglement_index(df: pd.DataFrame, score: str, level: str, valence: str = "valence") -> float:
    """Cohen's d of good vs bad items on ``score`` within each level of ``level``, item-weighted mean.

    d uses the pooled within-cell SD (ddof=1); each level weighs by its number of items. Positive means
    moral goodness raises the score. NaN if d is undefined in every level.
    """
    levels, n_levels = _codes(_column(df, level))
    return _index(_numeric(df, score), _good_mask(df, valence), levels, n_levels)


def _human_scores(df: pd.DataFrame, human: float | pd.Series | None) -> np.ndarray | float:
    """A per-row human score array aligned with ``df`` (from a Series), or the constant human index."""
    if human is None:
        return 0.0
    if isinstance(human, pd.Series):
        aligned = np.asarray(human.reindex(df.index), dtype=float)
        if np.isnan(aligned).any():
            raise ValueError(
                f"human scores are missing (or NaN) for {int(np.isnan(aligned).sum())} rows of the data; "
                "give one human score per item, indexed like the data"
            )
        return aligned
    return float(human)


def _leak_estimate(
    df: pd.DataFrame,
    scores: np.ndarray,
    level: str,
    *,
    logprob: np.ndarray | None,
    human: float | pd.Series | None,
    groups: str,
    valence: str,
    base: str,
    n_boot: int,
    n_perm: int,
    seed: int,
) -> Estimate:
    """Model minus human entanglement index, frame-bootstrap CI and whole-base valence permutation p."""
    frames, bases, n_frames = _design(df, groups, base)
    good = _good_mask(df, valence)
    if not _constant_within(good, bases):
        raise ValueError(f"{valence!r} must be constant within each {base!r} (valence belongs to the base)")
    levels, n_levels = _codes(_column(df, level))
    human_values = _human_scores(df, human)
    every_row = np.arange(len(df))

    def leak(idx: np.ndarray, labels: np.ndarray) -> float:
        s = scores[idx] if logprob is None else _residualise(scores[idx], logprob[idx], levels[idx], n_levels)
        model = _index(s, labels[idx], levels[idx], n_levels)
        if isinstance(human_values, float):
            return model - human_values
        return model - _index(human_values[idx], labels[idx], levels[idx], n_levels)

    est, low, high = stats.bootstrap(
        lambda idx: leak(idx, good), len(df), groups=frames, n_boot=n_boot, seed=seed
    )
    p = stats.permutation_p(
        lambda lab: leak(every_row, np.asarray(lab, dtype=bool)),
        good,
        groups=bases,
        within=_permutation_strata(good, frames),
        n_perm=n_perm,
        seed=seed,
    )
    return Estimate(estimate=est, ci_low=low, ci_high=high, p=p, n=n_frames)


def entanglement_estimate(
    df: pd.DataFrame,
    score: str,
    level: str,
    *,
    groups: str = "frame",
    human: float | pd.Series | None = 0.0,
    valence: str = "valence",
    base: str = "base",
    n_boot: int = 2000,
    n_perm: int = 2000,
    seed: int = 0,
) -> Estimate:
    """The model's entanglement index minus the human one, with a frame-bootstrap CI and a permutation p.

    ``human`` is a number (the human index; 0 or None: no human baseline) or a per-item human score Series
    indexed like ``df``, whose index is computed the same way on the same rows (and the same resample or
    permuted labels). The 95% CI resamples whole frames. The two-sided p permutes valence among base
    sentences, each keeping all its versions (so within every level; within frames when every frame holds
    both valences). ``n`` is the number of frames.
    """
    return _leak_estimate(
        df,
        _numeric(df, score),
        level,
        logprob=None,
        human=human,
        groups=groups,
        valence=valence,
        base=base,
        n_boot=n_boot,
        n_perm=n_perm,
        seed=seed,
    )


def logprob_adjusted_index(
    df: pd.DataFrame,
    score: str,
    level: str,
    logprob: str,
    *,
    groups: str = "frame",
    human: float | pd.Series | None = 0.0,
    valence: str = "valence",
    base: str = "base",
    n_boot: int = 2000,
    n_perm: int = 2000,
    seed: int = 0,
) -> Estimate:
    """``entanglement_estimate`` after residualising ``score`` on the item's model log-probability.

    The residual comes from OLS of score on the ``logprob`` column with one intercept per level and one
    slope pooled across levels, refitted on every bootstrap resample. Valence is not in the regression, so
    the part of a leak carried by wording likelihood (rarer wording in bad items) is removed. Human scores,
    if given, are not adjusted (the log-probability is the model's).
    """
    return _leak_estimate(
        df,
        _numeric(df, score),
        level,
        logprob=_numeric(df, logprob),
        human=human,
        groups=groups,
        valence=valence,
        base=base,
        n_boot=n_boot,
        n_perm=n_perm,
        seed=seed,
    )


# ----------------------------------------------------------------------------------------------------------
# discrimination


def discrimination(
    df: pd.DataFrame,
    score: str,
    contrast: str,
    positive: object,
    *,
    groups: str = "frame",
    base: str = "base",
    n_boot: int = 2000,
    n_perm: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Cohen's d of ``score`` between rows with ``contrast == positive`` and the rest; frame-bootstrap CI.

    The two-sided permutation p shuffles the contrast within each base when it varies within bases (the
    paired design: grammatical vs ungrammatical versions), else permutes it among whole bases (within
    frames when every frame holds both classes). ``n`` is the number of frames.
    """
    scores = _numeric(df, score)
    pos = _column(df, contrast) == positive
    if pos.all() or not pos.any():
        raise ValueError(f"column {contrast!r} needs rows equal to {positive!r} and rows that are not")
    frames, bases, n_frames = _design(df, groups, base)

    def d_of(idx: np.ndarray, labels: np.ndarray) -> float:
        s, lab = scores[idx], labels[idx]
        return cohens_d(s[lab], s[~lab])

    est, low, high = stats.bootstrap(
        lambda idx: d_of(idx, pos), len(df), groups=frames, n_boot=n_boot, seed=seed
    )
    every_row = np.arange(len(df))
    p = stats.permutation_p(
        lambda lab: d_of(every_row, np.asarray(lab, dtype=bool)),
        pos,
        groups=bases,
        within=_permutation_strata(pos, frames),
        n_perm=n_perm,
        seed=seed,
    )
    return Estimate(estimate=est, ci_low=low, ci_high=high, p=p, n=n_frames)


def uninterpretable(est: Estimate) -> bool:
    """True when the CI covers 0 (or is NaN): no reliable effect to interpret."""
    if np.isnan(est.ci_low) or np.isnan(est.ci_high):
        return True
    return bool(est.ci_low <= 0.0 <= est.ci_high)


# ----------------------------------------------------------------------------------------------------------
# directions and cosines


def _unit(v: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    norm = float(np.linalg.norm(arr))
    if not norm > 0 or not np.isfinite(norm):
        raise ValueError(f"{name} has zero (or non-finite) norm")
    return arr / norm


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
    return _unit(xa[lab].mean(axis=0) - xa[~lab].mean(axis=0), "the difference of class means")


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
    return _unit(np.linalg.solve(cov + ridge * np.eye(d), delta), "the weighted class difference")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two 1-D vectors of equal length (ValueError on a zero vector)."""
    ua, ub = _unit(a, "a"), _unit(b, "b")
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
    codes, n_groups = _codes(g)
    est, low, high = stats.bootstrap(
        lambda idx: auroc(projected[idx], labels[idx]), len(projected), groups=codes, n_boot=n_boot, seed=seed
    )
    p = stats.permutation_p(
        _auroc_with_fixed_scores(projected),
        labels,
        groups=codes,
        n_perm=n_perm,
        seed=seed,
        alternative="greater",
    )
    return Estimate(estimate=est, ci_low=low, ci_high=high, p=p, n=n_groups)


def _auroc_with_fixed_scores(scores: np.ndarray) -> Callable[[np.ndarray], float]:
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


# ----------------------------------------------------------------------------------------------------------
# variance-matched random directions


def _tilted_variance(alpha: np.ndarray, eig: np.ndarray, mass: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Projected variance (scaled) of the tilted directions, one per row: mean of ``eig`` under weights
    ``exp(2 alpha eig) * mass``, with the null-space mass ``rest`` at eigenvalue 0."""
    expo = 2.0 * alpha[:, None] * eig[None, :]
    shift = np.maximum(expo.max(axis=1), 0.0)
    w = np.exp(expo - shift[:, None]) * mass
    w0 = np.exp(-shift) * rest
    return (w @ eig) / (w.sum(axis=1) + w0)


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
    return (lo + hi) / 2.0


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
    u = _unit(direction, "direction")
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
    out = (np.exp(amp - shift[:, None]) * coords) @ basis + np.exp(-shift)[:, None] * null_part
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    got = np.einsum("ij,ij->i", out @ xc.T, out @ xc.T) / (len(xa) - 1)
    if (np.abs(got / target - 1.0) > _MATCH_TOL).any():
        raise ValueError(
            "could not match the direction's projected variance within 5% "
            f"(target {target:.4g}, achieved {got.min():.4g}..{got.max():.4g})"
        )
    return out


# ----------------------------------------------------------------------------------------------------------
# repair: rank p-value, verdict, plain words


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


def _covers(est: Estimate, value: float) -> bool:
    return bool(est.ci_low <= value <= est.ci_high)


def repair_verdict(
    before: Estimate,
    beats_controls: bool | None,
    discrimination_before: Estimate,
    discrimination_after: float,
) -> Verdict:
    """Verdict on a repair edit, checked in this order:

    - "no entanglement to repair": ``before``'s CI covers 0 (or is NaN);
    - "damages discrimination": ``discrimination_after`` lies outside ``discrimination_before``'s CI;
    - "controls not computable": the comparison with the controls could not be made (``None``);
    - "works": the edit lowered entanglement beyond its effect-matched controls (``beats_controls``);
    - "entanglement unchanged": otherwise (the edit is no better than a variance-matched random one).
    """
    if uninterpretable(before):
        return "no entanglement to repair"
    if not _covers(discrimination_before, discrimination_after):
        return "damages discrimination"
    if beats_controls is None:
        return "controls not computable"
    return "works" if beats_controls else "entanglement unchanged"


def _format_p(p: float | None) -> str:
    if p is None:
        return ""
    return ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"


def describe_entanglement(est: Estimate, domain: str, *, stat: str = "d") -> str:
    """Plain words, e.g. "moral goodness raises grammaticality ratings (d = 0.42 [0.18, 0.66], p = 0.002)".

    "raises"/"lowers" when the CI excludes 0, else "does not reliably change".
    """
    direction = "raises" if est.estimate > 0 else "lowers"
    verb = "does not reliably change" if uninterpretable(est) else direction
    numbers = f"{stat} = {est.estimate:.2f} [{est.ci_low:.2f}, {est.ci_high:.2f}]{_format_p(est.p)}"
    return f"moral goodness {verb} {domain} ({numbers})"
