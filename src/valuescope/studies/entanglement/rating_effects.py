"""The entanglement index and discrimination on the rating design: does moral goodness leak into
non-moral (grammatical, economic) judgments? (Cho, Li & Leshinskaya 2026.)

One row per item, a version of a base sentence. Columns used by name:

- ``frame``: the sampling unit. A frame holds several base sentences with all their versions; every
  bootstrap resample draws whole frames (all their rows together), and ``Estimate.n`` counts frames.
- ``base``: a base-sentence id, nested in one frame.
- ``valence``: ``'good'`` or ``'bad'``, constant within a base.
- a non-moral level column (``version``: ``'grammatical'``/``'ungrammatical'``, ``'good_deal'``/...).
- a rating or score column.

Permutation tests move whole base sentences (each keeps all its versions and one valence). Since every
base carries every non-moral level, permuting bases' valence permutes it within each level. The labels
are permuted within frames when every frame holds both classes (keeping each frame's balance, so frame
effects stay out of the null), otherwise among all bases."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.stats import Estimate, cohens_d, constant_within, integer_codes

__all__ = [
    "EntanglementOptions",
    "discrimination",
    "entanglement_estimate",
    "entanglement_index",
    "logprob_adjusted_index",
]


_GOOD, _BAD = "good", "bad"


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


def _design(df: pd.DataFrame, groups: str, base: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(frame codes, base codes, number of frames, number of bases); ValueError unless every base lies in
    one frame."""
    frames, n_frames = integer_codes(_column(df, groups))
    bases, n_bases = integer_codes(_column(df, base))
    if not constant_within(frames, bases, n_bases):
        raise ValueError(f"every {base!r} must lie in a single {groups!r} (bases are nested in frames)")
    return frames, bases, n_frames, n_bases


def _permutation_strata(labels: np.ndarray, frames: np.ndarray) -> np.ndarray | None:
    """``frames`` if every frame holds both label classes (permute within frames), else None (among all)."""
    n_frames = int(frames.max()) + 1
    pos = np.bincount(frames, weights=labels.astype(float), minlength=n_frames)
    size = np.bincount(frames, minlength=n_frames)
    return frames if bool(((pos > 0) & (pos < size)).all()) else None


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
    levels, n_levels = integer_codes(_column(df, level))
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


class EntanglementOptions(TypedDict, total=False):
    """The keyword options of ``entanglement_estimate`` that ``logprob_adjusted_index`` passes on."""

    groups: str
    human: float | pd.Series | None
    valence: str
    base: str
    n_boot: int
    n_perm: int
    seed: int


def _frame_estimate(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    frames: np.ndarray,
    bases: np.ndarray,
    n_frames: int,
    *,
    n_boot: int,
    n_perm: int,
    seed: int,
) -> Estimate:
    """``statistic(rows, labels)`` on every row, with a frame-bootstrap CI and a permutation p that moves
    ``labels`` among bases (within frames when every frame holds both classes); ``n`` counts frames."""
    est, low, high = stats.bootstrap(
        lambda idx: statistic(idx, labels), len(labels), groups=frames, n_boot=n_boot, seed=seed
    )
    every_row = np.arange(len(labels))
    p = stats.permutation_p(
        lambda lab: statistic(every_row, np.asarray(lab, dtype=bool)),
        labels,
        groups=bases,
        within=_permutation_strata(labels, frames),
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
    logprob: str | None = None,
) -> Estimate:
    """The model's entanglement index minus the human one, with a frame-bootstrap CI and a permutation p.

    ``human`` is a number (the human index; 0 or None: no human baseline) or a per-item human score Series
    indexed like ``df``, whose index is computed the same way on the same rows (and the same resample or
    permuted labels). The 95% CI resamples whole frames. The two-sided p permutes valence among base
    sentences, each keeping all its versions (so within every level; within frames when every frame holds
    both valences). ``n`` is the number of frames. ``logprob`` names a column to residualise the score on
    (see ``logprob_adjusted_index``).
    """
    scores = _numeric(df, score)
    lp = None if logprob is None else _numeric(df, logprob)
    frames, bases, n_frames, n_bases = _design(df, groups, base)
    good = _good_mask(df, valence)
    if not constant_within(good, bases, n_bases):
        raise ValueError(f"{valence!r} must be constant within each {base!r} (valence belongs to the base)")
    levels, n_levels = integer_codes(_column(df, level))
    human_values = _human_scores(df, human)

    def leak(idx: np.ndarray, labels: np.ndarray) -> float:
        s = scores[idx] if lp is None else _residualise(scores[idx], lp[idx], levels[idx], n_levels)
        model = _index(s, labels[idx], levels[idx], n_levels)
        if isinstance(human_values, float):
            return model - human_values
        return model - _index(human_values[idx], labels[idx], levels[idx], n_levels)

    return _frame_estimate(leak, good, frames, bases, n_frames, n_boot=n_boot, n_perm=n_perm, seed=seed)


def logprob_adjusted_index(
    df: pd.DataFrame, score: str, level: str, logprob: str, **options: Unpack[EntanglementOptions]
) -> Estimate:
    """``entanglement_estimate`` (with its ``options``) after residualising ``score`` on the item's model
    log-probability.

    The residual comes from OLS of score on the ``logprob`` column with one intercept per level and one
    slope pooled across levels, refitted on every bootstrap resample. Valence is not in the regression, so
    the part of a leak carried by wording likelihood (rarer wording in bad items) is removed. Human scores,
    if given, are not adjusted (the log-probability is the model's).
    """
    return entanglement_estimate(df, score, level, logprob=logprob, **options)


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
    frames, bases, n_frames, _ = _design(df, groups, base)

    def d_of(idx: np.ndarray, labels: np.ndarray) -> float:
        s, lab = scores[idx], labels[idx]
        return cohens_d(s[lab], s[~lab])

    return _frame_estimate(d_of, pos, frames, bases, n_frames, n_boot=n_boot, n_perm=n_perm, seed=seed)
