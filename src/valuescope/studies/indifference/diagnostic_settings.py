"""How the moral indifference diagnostics are computed: ``DiagnosticSettings`` (k-means restarts, principal
components, folds of whole lemmas, ridge penalties, typicality measure) and its presets, the metric names
``METRICS``, the argument checks the diagnostic modules share, and ``one_thread``. The functions that
cluster or fit the probe run with BLAS and OpenMP limited to one thread: their matrices are moderate
(thousands of items by hundreds of features, many times over), and on a busy 2-core machine multi-threaded
OpenBLAS, and OpenMP workers left spinning after k-means, made them 5-10x slower. For more speed run
layers or resamples in parallel processes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

METRICS: tuple[str, ...] = (
    "virtue_vice_cosine",
    "typicality_spearman",
    "ari_valence",
    "ari_foundation",
    "probe_r2",
)

Measure = Literal["projection", "cosine"]
P = ParamSpec("P")
T = TypeVar("T")


def check_count(value: int, name: str, minimum: int) -> int:
    """``value`` as an int; ValueError unless it is an integer >= ``minimum``."""
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_alphas(alphas: Sequence[float]) -> tuple[float, ...]:
    """``alphas`` as a tuple of floats; ValueError unless non-empty, finite and positive."""
    out = tuple(float(a) for a in alphas)
    if not out or not all(np.isfinite(a) and a > 0 for a in out):
        raise ValueError(f"alphas must be a non-empty sequence of positive ridge penalties, got {alphas!r}")
    return out


def check_measure(measure: str) -> None:
    """ValueError unless ``measure`` is a ``Measure``."""
    if measure not in ("projection", "cosine"):
        raise ValueError(f"measure must be 'projection' or 'cosine', got {measure!r}")


def one_thread(func: Callable[P, T]) -> Callable[P, T]:
    """Run ``func`` with BLAS and OpenMP limited to one thread (see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with threadpool_limits(limits=1):
            return func(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class DiagnosticSettings:
    """How the five diagnostics are computed; ``FAST_SETTINGS`` trades precision for speed."""

    n_init: int = 10
    """k-means restarts (best inertia kept)."""
    max_components: int = 50
    """k-means runs on the top min(max_components, n - 1, d) principal components of all the rows (centred,
    not standardised), fit once per read point; ari_foundation clusters the moral rows in that space."""
    typicality_folds: int = 2
    """Folds of whole lemmas for the cross-fitted typicality Spearman."""
    probe_folds: int = 5
    """Outer folds of whole lemmas for the ridge probe's out-of-fold R²."""
    alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    """Ridge penalties on standardised features, one chosen per outer fold by leave-one-lemma-out CV on its
    training part. The training Gram's eigenvalues scale with n, so the grid reaches 1e5: on features
    unrelated to the targets the probe can then shrink to the mean (R² near 0, not well below)."""
    min_items: int = 3
    """A foundation enters the mean virtue-vice cosine when both poles have at least this many items."""
    measure: Measure = "projection"
    """Typicality score: projection on the prototype axis, or that projection / ‖x − μ‖ (a cosine)."""

    def __post_init__(self) -> None:
        for name in ("n_init", "max_components", "min_items"):
            check_count(getattr(self, name), name, 1)
        for name in ("typicality_folds", "probe_folds"):
            check_count(getattr(self, name), name, 2)
        check_alphas(self.alphas)
        check_measure(self.measure)


DEFAULT_SETTINGS = DiagnosticSettings()
CURVE_SETTINGS = DiagnosticSettings(n_init=4)
FAST_SETTINGS = DiagnosticSettings(n_init=2, probe_folds=3)  # penalties are nearly free: the grid stays
