"""Multi-trait multi-method (MTMM) matrix (Campbell & Fiske 1959): the values (traits) measured by several
methods on the same items, their correlation matrix, and its convergent and discriminant criteria with
group-bootstrap intervals and a trait-shuffling permutation null."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from valuescope.stats.checks import check_count, check_groups, drop_nan, integer_codes
from valuescope.stats.estimate import Estimate
from valuescope.stats.resampling import bootstrap, tie_p

Scores = Mapping[str, np.ndarray | pd.DataFrame]

CRITERIA = (
    "convergent",
    "discriminant",
    "discriminant_monomethod",
    "criteria_share",
    "convergent_minus_discriminant",
)
_TESTED = ("convergent", "criteria_share", "convergent_minus_discriminant")
"""Criteria with a permutation p (the claim is "greater than the null"); discriminant reports the p of
convergent minus discriminant, and the monomethod blocks do not change under the null."""


@dataclass(frozen=True, eq=False)
class MtmmResult:
    """The MTMM matrix, its Campbell-Fiske criteria as estimates, and what was used to get them."""

    convergent: Estimate
    discriminant: Estimate
    discriminant_monomethod: Estimate
    criteria_share: Estimate
    convergent_minus_discriminant: Estimate
    matrix: pd.DataFrame  # (method, trait) x (method, trait) Pearson correlations
    convergent_table: pd.DataFrame  # columns method_a, method_b, trait, r
    n_items: int  # complete rows used
    n_dropped: int  # rows dropped for a NaN in any method
    methods: tuple[str, ...]
    traits: tuple[str, ...]
    null_medians: dict[str, float]  # median of the permutation null, per tested criterion and discriminant
    constant_columns: tuple[tuple[str, str], ...]  # (method, trait) constant over the used rows: NaN r


def _check_sizes(n_methods: int, n_traits: int) -> None:
    if n_methods < 2:
        raise ValueError(f"an MTMM matrix needs at least 2 methods, got {n_methods}")
    if n_traits < 3:
        raise ValueError(f"an MTMM matrix needs at least 3 traits, got {n_traits}")


def _stack(scores: Scores) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Methods, traits and the scores as an (n_methods, n_items, n_traits) float array, validated."""
    methods = tuple(str(m) for m in scores)
    frames = {m: v for m, v in scores.items() if isinstance(v, pd.DataFrame)}
    if len(methods) < 2:
        raise ValueError(f"an MTMM matrix needs at least 2 methods, got {list(methods)}")
    arrays = [np.asarray(v, dtype=float) for v in scores.values()]
    for m, a in zip(methods, arrays, strict=True):
        if a.ndim != 2:
            raise ValueError(f"method {m!r} must be 2-D (n_items, n_traits), got shape {a.shape}")
        if a.shape != arrays[0].shape:
            raise ValueError(f"method {m!r} has shape {a.shape}, but {methods[0]!r} has {arrays[0].shape}")
    _check_sizes(len(methods), arrays[0].shape[1])
    traits = tuple(f"trait_{i}" for i in range(arrays[0].shape[1]))
    if frames:
        first_m, first = next(iter(frames.items()))
        traits = tuple(str(c) for c in first.columns)
        for m, f in frames.items():
            if list(f.columns) != list(first.columns):
                raise ValueError(
                    f"method {m!r} has traits {list(f.columns)}, {first_m!r} {list(first.columns)}"
                )
            if not f.index.equals(first.index):
                raise ValueError(f"method {m!r} has other rows (index) than {first_m!r}; align the items")
    return methods, traits, np.stack(arrays)


def _complete(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows finite in every method: the (n_items, n_methods * n_traits) method-major matrix and the mask."""
    wide = np.concatenate(list(x), axis=1)
    keep = np.isfinite(wide).all(axis=1)
    if keep.sum() < 3:
        raise ValueError(f"only {int(keep.sum())} rows are complete in every method; need at least 3")
    return wide[keep], keep


def _corr(x: np.ndarray) -> np.ndarray:
    """Pearson correlations of the columns of ``x``; NaN for a column constant over the rows."""
    xc = x - x.mean(axis=0)
    ss = np.sqrt((xc**2).sum(axis=0))
    const = ss <= 1e-12 * np.sqrt(len(x)) * np.maximum(1.0, np.abs(x).max(axis=0))
    ss = np.where(const, np.nan, ss)
    r = (xc.T @ xc) / np.outer(ss, ss)
    return np.clip(r, -1.0, 1.0)


def _nanmean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _labels(methods: Sequence[str], traits: Sequence[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_product([list(methods), list(traits)], names=["method", "trait"])


def mtmm_matrix(scores: Scores) -> pd.DataFrame:
    """The (M*T) x (M*T) Pearson correlation matrix over the rows complete in every method, indexed by
    (method, trait) on both axes, method-major. A trait constant in a method gives NaN correlations."""
    methods, traits, x = _stack(scores)
    wide, _ = _complete(x)
    labels = _labels(methods, traits)
    return pd.DataFrame(_corr(wide), index=labels, columns=labels)


def campbell_fiske(corr: np.ndarray, n_methods: int, n_traits: int) -> dict[str, float]:
    """Campbell-Fiske criteria of a method-major (M*T) x (M*T) MTMM matrix, signed, NaN entries skipped.

    - ``convergent``: mean of the validity diagonals (same trait, two methods) over all method pairs.
    - ``discriminant``: mean of the heterotrait-heteromethod entries (different traits, two methods; both
      triangles of each heteromethod block).
    - ``discriminant_monomethod``: mean of the heterotrait-monomethod entries (different traits, one method).
    - ``criteria_share``: share of validity entries (trait t, methods a < b) greater than every other entry
      in row t and column t of their heteromethod block (the first discriminant criterion).
    """
    _check_sizes(n_methods, n_traits)
    r = np.asarray(corr, dtype=float)
    k = n_methods * n_traits
    if r.shape != (k, k):
        raise ValueError(
            f"corr must be ({k}, {k}) for {n_methods} methods x {n_traits} traits, got {r.shape}"
        )
    r4 = r.reshape(n_methods, n_traits, n_methods, n_traits)
    ia, ib = np.triu_indices(n_methods, 1)
    blocks = r4[ia, :, ib, :]  # (pairs, T, T): blocks[p, i, j] = r(method a trait i, method b trait j)
    eye = np.eye(n_traits, dtype=bool)
    valid = blocks[:, eye]  # (pairs, T)
    rivals = np.where(eye | np.isnan(blocks), -np.inf, blocks)
    best = np.maximum(rivals.max(axis=2), rivals.max(axis=1))  # max over row t and column t
    defined = np.isfinite(valid) & np.isfinite(best)
    mono = r4[np.arange(n_methods), :, np.arange(n_methods), :][:, ~eye]
    return {
        "convergent": _nanmean(valid),
        "discriminant": _nanmean(blocks[:, ~eye]),
        "discriminant_monomethod": _nanmean(mono),
        "criteria_share": float((valid > best)[defined].mean()) if defined.any() else float("nan"),
    }


def _criteria(corr: np.ndarray, n_methods: int, n_traits: int) -> dict[str, float]:
    out = campbell_fiske(corr, n_methods, n_traits)
    out["convergent_minus_discriminant"] = out["convergent"] - out["discriminant"]
    return out


def mtmm_summary(
    scores: Scores,
    groups: np.ndarray | Sequence[Any] | None = None,
    *,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
) -> MtmmResult:
    """MTMM matrix and Campbell-Fiske criteria with group-bootstrap CIs and permutation p-values.

    Rows with NaN in any method are dropped (``n_dropped``). The null permutes the trait columns of every
    method but the first (a fresh permutation per method per draw), which breaks trait correspondence
    across methods and keeps each method's own structure; p = (1 + #{null >= observed}) / (1 + n_perm),
    one-sided "greater". ``discriminant`` carries the p of convergent minus discriminant;
    ``discriminant_monomethod`` has no p (the null leaves its blocks unchanged).
    """
    check_count(n_perm, "n_perm")
    methods, traits, x = _stack(scores)
    g_all = check_groups(groups, x.shape[1], "groups")
    wide, keep = _complete(x)
    g = g_all[keep]
    n_m, n_t = len(methods), len(traits)
    corr = _corr(wide)

    cache: dict[bytes, dict[str, float]] = {}  # one correlation matrix per resample, shared by the criteria

    def on_rows(criterion: str, idx: np.ndarray) -> float:
        key = idx.tobytes()
        if key not in cache:
            cache[key] = _criteria(_corr(wide[idx]), n_m, n_t)
        return cache[key][criterion]

    rng = np.random.default_rng(seed)
    null = np.empty((n_perm, len(CRITERIA)))
    for i in range(n_perm):
        order = np.concatenate([np.arange(n_t)] + [m * n_t + rng.permutation(n_t) for m in range(1, n_m)])
        draw = _criteria(corr[np.ix_(order, order)], n_m, n_t)
        null[i] = [draw[c] for c in CRITERIA]

    observed = _criteria(corr, n_m, n_t)
    p: dict[str, float | None] = {c: None for c in CRITERIA}
    medians: dict[str, float] = {}
    for j, c in enumerate(CRITERIA):
        if c != "discriminant_monomethod":
            draws = drop_nan(null[:, j], "permutations")
            medians[c] = float(np.median(draws))
            p[c] = tie_p(observed[c], draws, alternative="greater") if c in _TESTED else None
    p["discriminant"] = p["convergent_minus_discriminant"]

    n_groups = integer_codes(g)[1]
    est: dict[str, Estimate] = {}
    for c in CRITERIA:
        e, lo, hi = bootstrap(partial(on_rows, c), len(wide), groups=g, n_boot=n_boot, seed=seed)
        est[c] = Estimate(estimate=e, ci_low=lo, ci_high=hi, p=p[c], n=n_groups)

    labels = _labels(methods, traits)
    ia, ib = np.triu_indices(n_m, 1)
    a, b, t = np.repeat(ia, n_t), np.repeat(ib, n_t), np.tile(np.arange(n_t), len(ia))
    mn, tn = np.array(methods, dtype=object), np.array(traits, dtype=object)
    r = corr[a * n_t + t, b * n_t + t]
    table = pd.DataFrame({"method_a": mn[a], "method_b": mn[b], "trait": tn[t], "r": r})
    const = tuple((str(m), str(t)) for (m, t), c in zip(labels, np.isnan(np.diag(corr)), strict=True) if c)
    return MtmmResult(
        convergent=est["convergent"],
        discriminant=est["discriminant"],
        discriminant_monomethod=est["discriminant_monomethod"],
        criteria_share=est["criteria_share"],
        convergent_minus_discriminant=est["convergent_minus_discriminant"],
        matrix=pd.DataFrame(corr, index=labels, columns=labels),
        convergent_table=table,
        n_items=len(wide),
        n_dropped=int((~keep).sum()),
        methods=methods,
        traits=traits,
        null_medians=medians,
        constant_columns=const,
    )


def mtmm_table(result: MtmmResult) -> pd.DataFrame:
    """The criteria in long form for a report: criterion, estimate, ci_low, ci_high, p, null_median."""
    rows = [
        {"criterion": c, **getattr(result, c).as_metric(), "null_median": result.null_medians.get(c, np.nan)}
        for c in CRITERIA
    ]
    cols = ["criterion", "estimate", "ci_low", "ci_high", "p", "null_median"]
    return pd.DataFrame(rows)[cols].astype({"p": float})
