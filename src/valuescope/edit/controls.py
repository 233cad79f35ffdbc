"""An edit against its matched controls: the one place where what an edit did to a metric is set against
what control edits did to it.

The rules every caller follows (DESIGN.md, "Conventions every study shares"):

- Controls are matched on *effect*, not on parameter norm: the same mean displacement of the rows the
  metric reads (``mean_displacement``) or the same damage on neutral text (``match_scale``).
- Random directions and subspaces are drawn from the data's own covariance (``covariance_directions``,
  ``covariance_basis``), not isotropically.
- Permuted-target refits move whole sampling units (``permute_groups``) and are fitted to their own optimum.
- The edit and its controls are scored by one function with one setting, and *changes* (after minus
  before) are compared (``score_against_controls``).
- p counts ties against the edit and the null states its draws and spread.
- An edit that moved nothing, a null with too few draws or without spread, or controls that cannot move
  what the metric reads give a result that is "not computable" with the reason, never "beats".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from valuescope.stats import NullSummary, summarize_null, tie_p
from valuescope.stats.metrics import metric, missing

__all__ = [
    "Better",
    "ControlResult",
    "against_controls",
    "compare_scores",
    "covariance_basis",
    "covariance_cosine_null",
    "covariance_directions",
    "draws_needed",
    "edit_moved_nothing",
    "match_scale",
    "mean_displacement",
    "not_computable",
    "permute_groups",
    "score_against_controls",
]

Better = Literal["higher", "lower"]
T = TypeVar("T")

MIN_DRAWS = 2
"""Fewest control draws that make a null (a single draw is one more edit, not a distribution)."""
MATCH_RTOL = 0.05
"""Largest relative gap between a control's effect and the edit's for the control to count as matched."""
SPREAD_RTOL = 1e-9
"""A null whose draws all lie within this (relative) of each other has no spread."""


def draws_needed(alpha: float = 0.05) -> int:
    """Fewest draws with which a rank p-value (1 + k) / (1 + n) can reach ``alpha`` (19 for 0.05)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return max(MIN_DRAWS, math.ceil(1.0 / alpha - 1.0 - 1e-9))


@dataclass(frozen=True)
class ControlResult:
    """What an edit changed in one metric, against the same change under its controls.

    ``change`` is the edit's after-minus-before, ``null`` the controls' after-minus-before, ``controls``
    says in words what the controls were. ``reason`` is set (and ``p`` None) when the comparison is not
    computable.
    """

    change: float | None
    null: tuple[float, ...]
    better: Better
    controls: str
    p: float | None = None
    summary: NullSummary | None = None
    reason: str | None = None
    alpha: float = 0.05

    @property
    def computable(self) -> bool:
        return self.reason is None

    @property
    def n(self) -> int:
        return len(self.null)

    @property
    def underpowered(self) -> bool:
        """Too few draws for p to reach ``alpha`` at all (the edit then cannot beat its controls)."""
        return self.n < draws_needed(self.alpha)

    @property
    def decided(self) -> bool:
        """Whether the comparison can say "beats" or "does not beat": computable and not underpowered."""
        return self.computable and not self.underpowered

    @property
    def beats(self) -> bool:
        """Whether the edit moved the metric further toward ``better`` than its controls (p <= alpha)."""
        return self.decided and self.p is not None and self.p <= self.alpha

    def verdict(self) -> str:
        """One of "beats its controls", "does not beat its controls", "undecided: <too few draws>" and
        "not computable: <reason>"."""
        if not self.computable:
            return f"not computable: {self.reason}"
        if self.underpowered:
            need = draws_needed(self.alpha)
            return f"undecided: {self.n} controls cannot give p <= {self.alpha:g} (that needs {need})"
        return "beats its controls" if self.beats else "does not beat its controls"

    def note(self) -> str:
        """The controls, the null's draws and spread, the edit's change and how p was counted."""
        if not self.computable:
            return f"not computable: {self.reason} ({self.controls})"
        assert self.summary is not None and self.change is not None and self.p is not None
        few = f"; with {self.n} draws p cannot fall below {1 / (1 + self.n):.3f}" if self.underpowered else ""
        return (
            f"change after minus before under {self.controls}: {self.summary.describe()}; the edit's own "
            f"change {self.change:+.3g}; p = share of controls changing it at least as much toward "
            f"{self.better} (ties count against the edit){few}"
        )

    def null_metric(self, **extra: Any) -> dict[str, Any]:
        """The controls as a summary metric: their median change, its 95% range (which contains it), the
        edit's p against them, the number of draws, and a note with the null's spread; or ``missing`` with
        the reason when not computable."""
        if not self.computable or self.summary is None:
            return missing(self.note(), n=self.n or None)
        s = self.summary
        return metric(s.median, s.low, s.high, p=self.p, n=s.n, note=self.note(), **extra)

    def excess_metric(self, **extra: Any) -> dict[str, Any]:
        """The edit's change minus the controls' median change, with the interval of that difference over
        the null's 95% range (it contains the estimate) and the edit's p; ``missing`` when not computable."""
        if not self.computable or self.summary is None or self.change is None:
            return missing(self.note(), n=self.n or None)
        s = self.summary
        return metric(
            self.change - s.median, self.change - s.high, self.change - s.low, p=self.p, n=s.n,
            better=self.better, note=self.note(), **extra,
        )  # fmt: skip


def edit_moved_nothing(
    edit_effect: float | None,
    *,
    min_effect: float = 0.0,
    rank: int | None = None,
    min_rank: int = 2,
) -> str | None:
    """Why an edit cannot be tested against controls because it moved nothing, or None if it moved.

    ``edit_effect`` is what the edit did to the rows the metric reads (e.g. their mean displacement);
    ``rank`` the dimension of the subspace it acts in, when that limits what it can change.
    """
    if rank is not None and rank < min_rank:
        return f"the edit acts in a subspace of rank {rank} < {min_rank}, so it cannot change the structure"
    if edit_effect is not None and not (np.isfinite(edit_effect) and edit_effect > min_effect):
        return f"the edit moved nothing (effect {edit_effect:.3g}, tolerance {min_effect:.3g})"
    return None


def not_computable(reason: str, *, better: Better, controls: str, alpha: float = 0.05) -> ControlResult:
    """A comparison that cannot be made, with the reason (shown in the report as "not computable")."""
    return ControlResult(change=None, null=(), better=better, controls=controls, reason=reason, alpha=alpha)


def against_controls(
    change: float,
    null: Sequence[float] | np.ndarray,
    *,
    better: Better,
    controls: str,
    edit_effect: float | None = None,
    control_effects: Sequence[float] | np.ndarray | None = None,
    min_effect: float = 0.0,
    match_rtol: float | None = MATCH_RTOL,
    rank: int | None = None,
    alpha: float = 0.05,
) -> ControlResult:
    """Set the edit's ``change`` in a metric against its controls' changes ``null``.

    Not computable (with the reason) when: the edit moved nothing (``edit_effect`` <= ``min_effect``, or
    ``rank`` < 2); the edit's change is not finite; fewer than two finite draws; a control moved nothing;
    with ``match_rtol``, a control's effect differs from the edit's by more than that share; or the null has
    no spread. Otherwise p = (1 + #{controls at least as good}) / (1 + n), ties counting against the edit.
    """
    reason = edit_moved_nothing(edit_effect, min_effect=min_effect, rank=rank)
    if reason is None and not np.isfinite(change):
        reason = "the edit's change in the metric is not finite"
    draws = np.asarray(null, dtype=float).reshape(-1)
    finite = draws[np.isfinite(draws)]
    if reason is None and len(finite) < MIN_DRAWS:
        reason = f"{len(finite)} finite control draw(s); a null needs at least {MIN_DRAWS}"
    if reason is None and control_effects is not None:
        effects = np.asarray(control_effects, dtype=float).reshape(-1)
        still = int((~(effects > min_effect)).sum())
        if still:
            reason = f"{still} of {len(effects)} controls cannot move what the metric reads"
        elif match_rtol is not None and edit_effect is not None:
            gap = float(np.max(np.abs(effects / edit_effect - 1.0)))
            if gap > match_rtol:
                reason = (
                    f"the controls are not matched on effect (up to {100 * gap:.0f}% off the edit's "
                    f"{edit_effect:.3g}; allowed {100 * match_rtol:.0f}%)"
                )
    if reason is None:
        scale = max(1.0, float(np.max(np.abs(finite))))
        if float(finite.max() - finite.min()) <= SPREAD_RTOL * scale:
            reason = (
                f"the null has no spread: all {len(finite)} controls change the metric by "
                f"{float(finite[0]):+.3g}, so they cannot move it"
            )
    kept = tuple(float(v) for v in finite)
    if reason is not None:
        return ControlResult(
            change=float(change) if np.isfinite(change) else None,
            null=kept,
            better=better,
            controls=controls,
            reason=reason,
            alpha=alpha,
        )
    return ControlResult(
        change=float(change),
        null=kept,
        better=better,
        controls=controls,
        p=tie_p(float(change), finite, alternative="greater" if better == "higher" else "less"),
        summary=summarize_null(finite),
        alpha=alpha,
    )


def compare_scores(
    before: Mapping[str, float],
    after: Mapping[str, float],
    controls: Sequence[Mapping[str, float]],
    *,
    better: Mapping[str, Better],
    describe: str,
    **kwargs: Any,
) -> dict[str, ControlResult]:
    """``against_controls`` for every metric in ``better``, from scores of the unedited rows (``before``),
    the edited ones (``after``) and each control (all scored the same way): change is compared with change.
    ``kwargs`` go to ``against_controls``."""
    return {
        name: against_controls(
            after[name] - before[name],
            [c[name] - before[name] for c in controls],
            better=b,
            controls=describe,
            **kwargs,
        )
        for name, b in better.items()
    }


def score_against_controls(
    score: Callable[[T], Mapping[str, float]],
    before: T,
    edited: T,
    controls: Sequence[T],
    *,
    better: Mapping[str, Better],
    describe: str,
    **kwargs: Any,
) -> dict[str, ControlResult]:
    """Score the unedited, edited and control versions with the one ``score`` and compare their changes.

    ``score`` maps a version (rows, or an edit to run the model under) to metric values. ``kwargs`` go to
    ``against_controls``; the controls are not scored when the edit moved nothing.
    """
    reason = edit_moved_nothing(
        kwargs.get("edit_effect"), min_effect=kwargs.get("min_effect", 0.0), rank=kwargs.get("rank")
    )
    if reason is not None:
        alpha = kwargs.get("alpha", 0.05)
        return {
            n: not_computable(reason, better=b, controls=describe, alpha=alpha) for n, b in better.items()
        }
    return compare_scores(
        score(before), score(edited), [score(c) for c in controls], better=better, describe=describe, **kwargs
    )


# ----------------------------------------------------------------------------------------------------------
# matching controls on effect


def mean_displacement(before: np.ndarray, after: np.ndarray) -> float:
    """Mean Euclidean length of the change of each row (the effect of an edit on the rows a metric reads)."""
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if b.shape != a.shape or b.ndim != 2 or len(b) == 0:
        raise ValueError(f"before {b.shape} and after {a.shape} must be the same non-empty (rows, d) shape")
    return float(np.linalg.norm(a - b, axis=1).mean())


def match_scale(
    effect: Callable[[float], float],
    target: float,
    *,
    start: float = 1.0,
    rtol: float = 0.02,
    max_steps: int = 30,
) -> float:
    """The scale s >= 0 at which a control's ``effect(s)`` (increasing, 0 at s = 0) equals ``target``.

    Doubles ``start`` until the target is bracketed, then bisects until within ``rtol``. Raises
    ValueError naming the largest effect reached if the control cannot reach the target.
    """
    if not (np.isfinite(target) and target > 0):
        raise ValueError(f"target effect {target} must be positive; an edit that moved nothing has no match")
    lo, hi = 0.0, float(start)
    got = effect(hi)
    steps = 0
    while got < target:
        steps += 1
        if steps > max_steps:
            raise ValueError(f"the control reaches an effect of only {got:.3g} (target {target:.3g})")
        lo, hi = hi, 2.0 * hi
        got = effect(hi)
    best, best_gap = hi, abs(got / target - 1.0)
    for _ in range(max_steps):
        if best_gap <= rtol:
            break
        mid = (lo + hi) / 2.0
        got = effect(mid)
        if abs(got / target - 1.0) < best_gap:
            best, best_gap = mid, abs(got / target - 1.0)
        lo, hi = (mid, hi) if got < target else (lo, mid)
    return best


# ----------------------------------------------------------------------------------------------------------
# random directions and subspaces from the data's own variance


def covariance_directions(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random unit directions (n, d) drawn from N(0, cov(x)) of rows ``x`` (items, d).

    Draws are Gaussian combinations of the centred rows, so they follow the data's own anisotropy (a
    direction of large variance is drawn as often as the data varies along it) without forming the d x d
    covariance.
    """
    xa = np.asarray(x, dtype=float)
    if xa.ndim != 2 or len(xa) < 2:
        raise ValueError(f"x must be (items, d) with at least 2 rows, got shape {xa.shape}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    xc = xa - xa.mean(axis=0)
    draws = rng.standard_normal((int(n), len(xa))) @ xc
    norms = np.linalg.norm(draws, axis=1, keepdims=True)
    if not (norms > 0).all():
        raise ValueError("x has no variance; no direction can be drawn from it")
    result: np.ndarray = draws / norms
    return result


def covariance_cosine_null(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` cosines between pairs of independent directions drawn from N(0, cov(x)): the null of a cosine
    between two directions estimated from the same anisotropic data (an isotropic null is far narrower)."""
    a = covariance_directions(x, n, rng)
    b = covariance_directions(x, n, rng)
    result: np.ndarray = np.einsum("ij,ij->i", a, b)
    return result


def covariance_basis(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A random k-dimensional orthonormal basis (k, d) spanned by k draws from N(0, cov(x))."""
    xa = np.asarray(x, dtype=float)
    if int(k) != k or not 1 <= k <= min(len(xa) - 1, xa.shape[1]):
        raise ValueError(f"k={k} must be between 1 and min(rows - 1, d) of x with shape {xa.shape}")
    q, r = np.linalg.qr(covariance_directions(xa, int(k), rng).T)
    if (np.abs(np.diag(r)) < 1e-10).any():
        raise ValueError(
            f"x's variance has rank below k={k}; it cannot hold a random {k}-dimensional subspace"
        )
    return (q * np.sign(np.diag(r))).T


# ----------------------------------------------------------------------------------------------------------
# permuted targets that keep the sampling unit


def permute_groups(values: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``values`` (rows first) with whole groups' values permuted among groups: every row of a group gets
    the value of the first row of the group it was assigned (a lemma's inflections move together)."""
    v = np.asarray(values)
    g = np.asarray(groups)
    if len(v) != len(g):
        raise ValueError(f"values has {len(v)} rows but groups has {len(g)}")
    names, codes = np.unique(g, return_inverse=True)
    codes = codes.reshape(-1)
    first = np.array([np.flatnonzero(codes == i)[0] for i in range(len(names))])
    order = rng.permutation(len(names))
    result: np.ndarray = v[first[order]][codes]
    return result
