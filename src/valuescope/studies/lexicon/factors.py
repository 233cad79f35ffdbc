"""Exploratory factor analysis of value terms: adequacy, how many factors, loadings and factor scores.

The value-lexicon study (after ValueLex, Biedma et al. 2024) elicits value terms from models and reduces
the response-by-term matrix (one row per response, one 0/1 or count column per term) to a few factors:

- Is the matrix factorable at all: Kaiser-Meyer-Olkin and Bartlett's sphericity test (``adequacy``).
- How many factors: Horn's parallel analysis against normal or column-permuted data (``parallel_table``,
  ``parallel_analysis``).
- The factors: minres (or ML / principal) extraction with an oblimin, varimax or no rotation, loadings,
  communalities, variance and regression factor scores per row (``fit_efa``), and mean scores per model
  (``factor_scores_by_group``).

Correlations are Pearson's (phi for 0/1 columns), as in ValueLex; constant columns carry no correlation and
are dropped and reported. The extraction and rotation are ``factor_analyzer``'s, loaded only through
``load_factor_analyzer``, which adapts it to scikit-learn >= 1.6 (see there).

Randomness comes from ``np.random.default_rng(seed)``; results are deterministic for a given seed.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypedDict, Unpack

import numpy as np
import pandas as pd
from scipy.stats import chi2

__all__ = [
    "EFAResult",
    "ParallelOptions",
    "adequacy",
    "compat_check_array",
    "factor_scores_by_group",
    "fit_efa",
    "load_factor_analyzer",
    "parallel_analysis",
    "parallel_table",
]

Rotation = Literal["oblimin", "varimax"]
Method = Literal["minres", "ml", "principal"]
ParallelMethod = Literal["normal", "permute"]

ROWS_PER_TERM = 5
"""Fewest rows per (non-constant) term ``fit_efa`` accepts; the common rule of thumb for a stable EFA."""

_SINGULAR_TOL = 1e-8
_PARALLEL_BATCH_ELEMENTS = 4_000_000  # null data sets are drawn in batches of about this many numbers

# ----------------------------------------------------------------------------------------------------------
# factor_analyzer on current scikit-learn

_FA_MODULES = ("factor_analyzer.factor_analyzer", "factor_analyzer.confirmatory_factor_analyzer")
_SHIM_MARK = "__valuescope_shim__"


def compat_check_array(check_array: Callable[..., Any]) -> Callable[..., Any]:
    """``check_array`` that also takes the pre-1.6 keyword ``force_all_finite``.

    scikit-learn 1.6 renamed ``check_array(force_all_finite=...)`` to ``ensure_all_finite`` and 1.8 removed
    the old name, which ``factor_analyzer`` 0.5.1 still passes (a TypeError on every ``fit``). Where the
    given function knows ``ensure_all_finite``, the wrapper renames the keyword; on older scikit-learn,
    which knows only the old name, the function comes back unchanged.
    """
    if getattr(check_array, _SHIM_MARK, False):
        return check_array
    try:
        params = inspect.signature(check_array).parameters
    except (TypeError, ValueError):  # no introspectable signature: leave it alone
        return check_array
    if "ensure_all_finite" not in params:
        return check_array

    @functools.wraps(check_array)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if "force_all_finite" in kwargs:
            old = kwargs.pop("force_all_finite")
            kwargs.setdefault("ensure_all_finite", old)
        return check_array(*args, **kwargs)

    setattr(wrapped, _SHIM_MARK, True)
    return wrapped


@functools.cache
def load_factor_analyzer() -> ModuleType:
    """The ``factor_analyzer`` package, made to work on the installed scikit-learn.

    The only change: the ``check_array`` name that ``factor_analyzer``'s own modules imported is replaced,
    in those modules' namespaces, by ``compat_check_array(check_array)``. scikit-learn itself and every
    other caller of its ``check_array`` are untouched. Idempotent; import ``factor_analyzer`` only
    through this function.
    """
    try:
        package = importlib.import_module("factor_analyzer")
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError(
            "the factor analysis needs the factor_analyzer package: pip install factor_analyzer==0.5.1"
        ) from err
    for name in _FA_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "check_array"):
            setattr(module, "check_array", compat_check_array(module.check_array))  # noqa: B010
    return package


# ----------------------------------------------------------------------------------------------------------
# input checks


def _matrix(
    X: np.ndarray | pd.DataFrame, terms: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """(rows, kept terms) float64 matrix without constant columns, the kept and the dropped term names."""
    if terms is None and isinstance(X, pd.DataFrame):
        terms = [str(c) for c in X.columns]
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, terms), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"X has {int((~np.isfinite(arr)).sum())} NaN or infinite entries; drop them first")
    if terms is None:
        terms = [str(j) for j in range(arr.shape[1])]
    if isinstance(terms, str) or len(terms) != arr.shape[1]:
        raise ValueError(f"terms must name each of the {arr.shape[1]} columns of X, got {len(terms)} names")
    if len(set(terms)) != len(terms):
        dupes = sorted({t for t in terms if list(terms).count(t) > 1})
        raise ValueError(f"terms must be unique; repeated: {dupes}")
    if arr.shape[0] < 3:
        raise ValueError(f"X has {arr.shape[0]} rows; correlations need at least 3")
    constant = np.ptp(arr, axis=0) == 0
    kept = [t for t, c in zip(terms, constant, strict=True) if not c]
    dropped = [t for t, c in zip(terms, constant, strict=True) if c]
    if len(kept) < 3:
        raise ValueError(
            f"X has {len(kept)} non-constant columns (dropped as constant: {dropped}); "
            "a factor analysis needs at least 3"
        )
    return arr[:, ~constant], kept, dropped


def _is_binary(arr: np.ndarray) -> bool:
    return bool(np.isin(arr, (0.0, 1.0)).all())


def _corr(arr: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.corrcoef(arr, rowvar=False))


def _recorded(caught: list[warnings.WarningMessage]) -> list[str]:
    return list(dict.fromkeys(str(w.message) for w in caught))


# ----------------------------------------------------------------------------------------------------------
# adequacy


def adequacy(X: np.ndarray | pd.DataFrame, terms: Sequence[str] | None = None) -> dict[str, Any]:
    """Whether X is worth factoring: Kaiser-Meyer-Olkin (overall and per term) and Bartlett's sphericity.

    Returns ``kmo`` (>= 0.6 is the usual bar; ~0.5 for unrelated columns), ``kmo_per_item`` (a Series by
    term), ``bartlett_chi2``, ``bartlett_df``, ``bartlett_p`` (H0: the correlation matrix is the
    identity), ``n`` rows, ``dropped`` constant terms and ``notes`` (e.g. a singular correlation matrix, where
    the KMO uses a pseudo-inverse and Bartlett's chi2 is infinite). Bartlett's log-determinant is taken
    with ``slogdet``, which does not underflow for many terms as a plain determinant does.
    """
    arr, kept, dropped = _matrix(X, terms)
    fa = load_factor_analyzer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kmo_items, kmo_total = fa.calculate_kmo(arr)
    notes = _recorded(caught)
    n, p = arr.shape
    sign, logdet = np.linalg.slogdet(_corr(arr))
    if sign <= 0 or not np.isfinite(logdet):
        statistic, p_value = float("inf"), 0.0
        notes.append("the correlation matrix is singular (some terms are exact linear combinations)")
    else:
        statistic = float(-logdet * (n - 1 - (2 * p + 5) / 6))
        p_value = float(chi2.sf(statistic, p * (p - 1) / 2))
    return {
        "kmo": float(kmo_total),
        "kmo_per_item": pd.Series(np.asarray(kmo_items, dtype=float), index=kept, name="kmo"),
        "bartlett_chi2": statistic,
        "bartlett_df": int(p * (p - 1) // 2),
        "bartlett_p": p_value,
        "n": int(n),
        "dropped": dropped,
        "notes": notes,
    }


# ----------------------------------------------------------------------------------------------------------
# parallel analysis


def parallel_table(
    X: np.ndarray | pd.DataFrame,
    *,
    n_iter: int = 100,
    quantile: float = 0.95,
    method: ParallelMethod = "normal",
    seed: int = 0,
) -> pd.DataFrame:
    """Horn's parallel analysis as a table, one row per factor (1-based index).

    Columns: ``observed`` eigenvalue of X's correlation matrix, ``null_mean`` and ``null_quantile`` of
    the same-rank eigenvalue over ``n_iter`` null data sets of X's shape, and ``retained``: the leading run
    of factors whose observed eigenvalue exceeds the null quantile. The null is standard normal data
    (``method="normal"``) or X with each column permuted independently (``"permute"``, which keeps every
    term's marginal distribution; the honest null for 0/1 response-by-term data). Constant columns are
    dropped first.
    """
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    if method not in ("normal", "permute"):
        raise ValueError(f"method must be 'normal' or 'permute', got {method!r}")
    arr, _, _ = _matrix(X, None)
    n, p = arr.shape
    observed = np.linalg.eigvalsh(_corr(arr))[::-1]
    rng = np.random.default_rng(seed)
    null = np.empty((int(n_iter), p))
    batch = max(1, _PARALLEL_BATCH_ELEMENTS // (n * p))
    for start in range(0, int(n_iter), batch):
        stop = min(start + batch, int(n_iter))
        if method == "normal":
            data = rng.standard_normal((stop - start, n, p))
        else:
            data = np.stack([rng.permuted(arr, axis=0) for _ in range(stop - start)])
        z = data - data.mean(axis=1, keepdims=True)
        z /= np.sqrt((z**2).sum(axis=1, keepdims=True))
        null[start:stop] = np.linalg.eigvalsh(np.einsum("bni,bnj->bij", z, z))[:, ::-1]
    threshold = np.quantile(null, quantile, axis=0)
    exceeds = observed > threshold
    n_retained = p if exceeds.all() else int(np.argmin(exceeds))
    return pd.DataFrame(
        {
            "observed": observed,
            "null_mean": null.mean(axis=0),
            "null_quantile": threshold,
            "retained": np.arange(p) < n_retained,
        },
        index=pd.RangeIndex(1, p + 1, name="factor"),
    )


class ParallelOptions(TypedDict, total=False):
    """The keyword options of ``parallel_table``."""

    n_iter: int
    quantile: float
    method: ParallelMethod
    seed: int


def parallel_analysis(X: np.ndarray | pd.DataFrame, **options: Unpack[ParallelOptions]) -> int:
    """How many factors Horn's parallel analysis retains (may be 0); ``parallel_table`` (whose ``options``
    these are) has the table."""
    return int(parallel_table(X, **options)["retained"].sum())


# ----------------------------------------------------------------------------------------------------------
# exploratory factor analysis


@dataclass(frozen=True)
class EFAResult:
    """A fitted exploratory factor analysis of the kept (non-constant) terms.

    ``loadings`` is the pattern matrix (term × factor, factors named F1.. in order of variance, signed so
    each column sums positive); ``factor_correlations`` is the identity unless the rotation is oblique, and
    ``structure`` = loadings @ factor_correlations. ``communalities`` are diag(L Φ Lᵀ), unchanged by
    rotation. ``variance`` has per factor ``ss_loadings`` = diag(Φ LᵀL) (psych's convention; for an
    oblique rotation the factors overlap and these do not add up to the common variance), ``proportion``
    of the total variance (the number of terms) and ``cumulative``. ``scores`` are regression (Thurstone)
    factor scores, one row per row of X. ``parallel`` is the parallel-analysis table when it chose the
    number of factors. ``notes`` collects what the fit warned about.
    """

    terms: tuple[str, ...]
    n_factors: int
    rotation: Rotation | None
    method: Method
    loadings: pd.DataFrame
    structure: pd.DataFrame
    factor_correlations: pd.DataFrame
    communalities: pd.Series
    variance: pd.DataFrame
    scores: pd.DataFrame
    dropped: tuple[str, ...]
    parallel: pd.DataFrame | None
    notes: tuple[str, ...]

    def _column(self, factor: int | str) -> str:
        columns = list(self.loadings.columns)
        if isinstance(factor, str):
            if factor not in columns:
                raise ValueError(f"no factor {factor!r}; the factors are {columns}")
            return factor
        if not 0 <= factor < len(columns):
            raise ValueError(f"factor index {factor} is out of range for {len(columns)} factors (0-based)")
        return str(columns[factor])

    def top_terms(self, factor: int | str, k: int = 10) -> list[str]:
        """The ``k`` terms that load most strongly (by absolute pattern loading) on ``factor``.

        ``factor`` is a 0-based index or a column name such as ``"F1"``.
        """
        if int(k) != k or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k}")
        column = self.loadings[self._column(factor)]
        order = np.argsort(-column.abs().to_numpy(), kind="stable")
        return [str(self.loadings.index[i]) for i in order[: int(k)]]


def _orient_and_sort(loadings: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each factor so its loadings sum positive and order factors by diag(Φ LᵀL), largest first."""
    signs = np.sign(loadings.sum(axis=0))
    signs[signs == 0] = 1.0
    loadings = loadings * signs
    phi = phi * np.outer(signs, signs)
    variance = np.diag(phi @ loadings.T @ loadings)
    order = np.argsort(-variance, kind="stable")
    return loadings[:, order], phi[np.ix_(order, order)]


def fit_efa(
    X: np.ndarray | pd.DataFrame,
    terms: Sequence[str],
    n_factors: int | None = None,
    *,
    rotation: Rotation | None = "oblimin",
    method: Method = "minres",
    parallel_method: ParallelMethod | Literal["auto"] = "auto",
    n_iter: int = 100,
    seed: int = 0,
) -> EFAResult:
    """Exploratory factor analysis of X (rows × terms).

    ``n_factors=None`` takes the number from parallel analysis (at least 1), with ``parallel_method``
    ``"auto"`` meaning column permutation for 0/1 data and normal data otherwise. Constant columns are
    dropped (listed in ``dropped``). Fewer than ``ROWS_PER_TERM`` rows per kept term raises a ValueError,
    so a study can report the analysis as not estimable. A singular correlation matrix (a term that is an
    exact combination of others) starts the optimiser at 0.5 instead of the squared multiple correlations,
    which need its inverse, and is noted. Oblique ``"oblimin"`` (quartimin, γ = 0) lets value factors
    correlate, as they do in ValueLex; ``"varimax"`` keeps them orthogonal.
    """
    if rotation not in ("oblimin", "varimax", None):
        raise ValueError(f"rotation must be 'oblimin', 'varimax' or None, got {rotation!r}")
    if method not in ("minres", "ml", "principal"):
        raise ValueError(f"method must be 'minres', 'ml' or 'principal', got {method!r}")
    arr, kept, dropped = _matrix(X, terms)
    n, p = arr.shape
    if n < ROWS_PER_TERM * p:
        raise ValueError(
            f"fit_efa needs at least {ROWS_PER_TERM} rows per term: X has {n} rows for {p} non-constant "
            f"terms (needs {ROWS_PER_TERM * p}); report the factor analysis as not estimable, or keep at "
            f"most {n // ROWS_PER_TERM} terms (e.g. the most frequent)"
        )
    notes: list[str] = []
    if dropped:
        notes.append(f"dropped {len(dropped)} constant terms: {dropped}")

    table: pd.DataFrame | None = None
    if n_factors is None:
        pa_method: ParallelMethod
        if parallel_method == "auto":
            pa_method = "permute" if _is_binary(arr) else "normal"
        else:
            pa_method = parallel_method
        table = parallel_table(arr, n_iter=n_iter, method=pa_method, seed=seed)
        n_factors = max(1, int(table["retained"].sum()))
        if not table["retained"].any():
            notes.append("parallel analysis retained no factor; fitted 1")
    if int(n_factors) != n_factors or not 1 <= n_factors < p:
        raise ValueError(f"n_factors must be an integer in [1, {p - 1}] for {p} terms, got {n_factors}")
    k = int(n_factors)

    corr = _corr(arr)
    singular = bool(np.linalg.eigvalsh(corr).min() < _SINGULAR_TOL)
    if singular:
        notes.append(
            "the correlation matrix is singular (some terms are exact linear combinations of others); "
            "started from uniform uniquenesses instead of squared multiple correlations"
        )
    applied: Rotation | None = rotation if k > 1 else None
    if rotation is not None and k == 1:
        notes.append("one factor: no rotation")

    fa = load_factor_analyzer()
    model = fa.FactorAnalyzer(
        n_factors=k, rotation=None, method=method, use_smc=not singular, svd_method="lapack"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(arr)
        loadings = np.asarray(model.loadings_, dtype=float)
        phi = np.eye(k)
        if applied is not None:
            rotator = fa.Rotator(method=applied)
            loadings = np.asarray(rotator.fit_transform(loadings), dtype=float)
            if rotator.phi_ is not None:
                phi = np.asarray(rotator.phi_, dtype=float)
    notes.extend(_recorded(caught))
    loadings, phi = _orient_and_sort(loadings, phi)
    structure = loadings @ phi

    z = (arr - arr.mean(axis=0)) / arr.std(axis=0)
    weights = np.linalg.pinv(corr, hermitian=True) @ structure
    names = [f"F{j + 1}" for j in range(k)]
    ss = np.diag(phi @ loadings.T @ loadings)
    variance = pd.DataFrame(
        {"ss_loadings": ss, "proportion": ss / p, "cumulative": np.cumsum(ss / p)},
        index=pd.Index(names, name="factor"),
    )
    return EFAResult(
        terms=tuple(kept),
        n_factors=k,
        rotation=applied,
        method=method,
        loadings=pd.DataFrame(loadings, index=kept, columns=names),
        structure=pd.DataFrame(structure, index=kept, columns=names),
        factor_correlations=pd.DataFrame(phi, index=names, columns=names),
        communalities=pd.Series(np.einsum("ij,jk,ik->i", loadings, phi, loadings), index=kept, name="h2"),
        variance=variance,
        scores=pd.DataFrame(z @ weights, columns=names),
        dropped=tuple(dropped),
        parallel=table,
        notes=tuple(notes),
    )


def factor_scores_by_group(result: EFAResult, groups: Sequence[Any] | np.ndarray) -> pd.DataFrame:
    """Mean factor score per group (e.g. per model), one row per group, plus the group's row count ``n``."""
    labels = np.asarray(groups)
    if labels.ndim != 1 or len(labels) != len(result.scores):
        raise ValueError(
            f"groups must give one label per row of the fitted X ({len(result.scores)}), got shape "
            f"{labels.shape}"
        )
    frame = result.scores.copy()
    frame.index = pd.Index(labels, name="group")
    grouped = frame.groupby(level="group", sort=True)
    out = grouped.mean()
    out["n"] = grouped.size()
    return out
