"""Scores turned into probabilities: isotonic regression per dimension, and how reliable the result is.

A head trained with balanced classes ranks well but its sigmoid is no probability (a rare category's
positives are weighted up, so most texts get more than their share). :func:`fit_isotonic` maps each
dimension's scores to the observed rate of its label, fitted on out-of-fold scores of the training data
(:func:`out_of_fold_logits`), so that the map never sees scores of texts its head was trained on.
:func:`reliability` bins held-out probabilities against the observed rate (the reliability diagram's
points) and :func:`expected_calibration_error` weighs the gaps by bin size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class IsotonicCalibration:
    """Per dimension, a non-decreasing step function from score to probability (its knots)."""

    dimensions: list[str]
    x: list[np.ndarray]
    y: list[np.ndarray]

    def __post_init__(self) -> None:
        if not len(self.dimensions) == len(self.x) == len(self.y):
            raise ValueError(
                f"{len(self.dimensions)} dimensions but {len(self.x)} / {len(self.y)} knot lists"
            )
        for name, xs, ys in zip(self.dimensions, self.x, self.y, strict=True):
            if len(xs) != len(ys) or len(xs) == 0 or np.any(np.diff(xs) < 0) or np.any(np.diff(ys) < 0):
                raise ValueError(f"{name}: knots must be non-empty, paired and non-decreasing")

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """(n, k) probabilities of (n, k) scores; scores beyond the knots take the end values."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != len(self.dimensions):
            raise ValueError(f"scores are {scores.shape}; expected (n, {len(self.dimensions)})")
        return np.column_stack(
            [np.interp(scores[:, j], xs, ys) for j, (xs, ys) in enumerate(zip(self.x, self.y, strict=True))]
        )

    def as_record(self) -> dict[str, Any]:
        """JSON-able knots, as a head file's record holds them."""
        return {
            d: {"x": [float(v) for v in xs], "y": [float(v) for v in ys]}
            for d, xs, ys in zip(self.dimensions, self.x, self.y, strict=True)
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IsotonicCalibration:
        try:
            names = list(record)
            xs = [np.asarray(record[d]["x"], dtype=np.float64) for d in names]
            ys = [np.asarray(record[d]["y"], dtype=np.float64) for d in names]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a calibration record ({e}); train the head again") from e
        return cls(names, xs, ys)


def fit_isotonic(scores: np.ndarray, labels: np.ndarray, dimensions: Sequence[str]) -> IsotonicCalibration:
    """One isotonic regression of each column of the bool ``labels`` (n, k) on ``scores`` (n, k)."""
    from sklearn.isotonic import IsotonicRegression

    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if scores.shape != labels.shape or scores.shape[1:] != (len(dimensions),):
        raise ValueError(
            f"scores {scores.shape} and labels {labels.shape} must both be (n, {len(dimensions)})"
        )
    xs, ys = [], []
    for j in range(scores.shape[1]):
        fit = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores[:, j], labels[:, j])
        xs.append(np.asarray(fit.X_thresholds_, dtype=np.float64))
        ys.append(np.asarray(fit.y_thresholds_, dtype=np.float64))
    return IsotonicCalibration(list(dimensions), xs, ys)


def out_of_fold_logits(
    X: np.ndarray, Y: np.ndarray, dimensions: Sequence[str], *, encoder: str, C: float, folds: int = 5
) -> np.ndarray:
    """Each row's logits from a head (``heads.fit_logistic``) trained on the other folds."""
    from sklearn.model_selection import KFold

    from valuescope.instruments.heads import fit_logistic

    out = np.empty(np.shape(Y), dtype=np.float64)
    for train, test in KFold(folds, shuffle=True, random_state=0).split(X):
        out[test] = fit_logistic(X[train], Y[train], dimensions, encoder=encoder, C=C).scores(X[test])
    return out


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-width probability bins: ``low``, ``high``, ``n``, ``mean_predicted``, ``observed`` (the
    rate of the label); empty bins are left out. Probabilities and labels are flattened together."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    if p.shape != y.shape:
        raise ValueError(f"{p.size} probabilities but {y.size} labels")
    if np.any((p < 0) | (p > 1)) or not np.isfinite(p).all():
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": edges[b],
                    "high": edges[b + 1],
                    "n": int(inside.sum()),
                    "mean_predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["low", "high", "n", "mean_predicted", "observed"])


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over the bins of :func:`reliability`, weighted by their size."""
    table = reliability(probabilities, labels, bins)
    gaps = (table["mean_predicted"] - table["observed"]).abs()
    return float((gaps * table["n"]).sum() / table["n"].sum())
