"""valuescope.studies.indifference.ridge_probe: the closed-form probe against sklearn Ridge and on noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from planted_geometry import memorisation_data, planted_items
from sklearn.linear_model import Ridge

from valuescope import stats
from valuescope.data.moral_items import VECTOR_COLUMNS
from valuescope.studies.indifference.item_labels import read_labels
from valuescope.studies.indifference.ridge_probe import probe_r2


def test_probe_on_noise_with_more_features_than_items_stays_near_zero() -> None:
    """With d > n a nearly interpolating fit must not look good in the inner leave-one-lemma-out CV."""
    items = planted_items()
    x = np.random.default_rng(7).standard_normal((len(items), 1000))
    assert -0.05 < probe_r2(x, items) < 0.02


def test_probe_keeps_lemmas_together() -> None:
    items, _ = memorisation_data()
    rng = np.random.default_rng(4)
    codes, _ = pd.factorize(items.lemma)
    targets = rng.standard_normal((codes.max() + 1, len(VECTOR_COLUMNS)))[codes]
    items[list(VECTOR_COLUMNS)] = targets
    x = rng.standard_normal((codes.max() + 1, 200))[codes]
    assert probe_r2(x, items) < 0.0
    assert probe_r2(x, items.assign(lemma=np.arange(len(items)))) > 0.15


def _brute_force_probe(x: np.ndarray, y: np.ndarray, lemma: np.ndarray, alphas: tuple[float, ...]) -> float:
    """The documented probe with sklearn Ridge and an explicit leave-one-lemma-out loop."""
    sse = sst = 0.0
    for train, test in stats.grouped_folds(lemma, 5, seed=0):
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
        z, z_test = (x[train] - mu) / sd, (x[test] - mu) / sd
        y_mean = y[train].mean(axis=0)
        yc = y[train] - y_mean
        inner = []
        for alpha in alphas:
            err = 0.0
            for g in np.unique(lemma[train]):
                out = lemma[train] == g
                fit = Ridge(alpha=alpha).fit(z[~out], yc[~out])  # the intercept refitted without g
                err += float(((yc[out] - fit.predict(z[out])) ** 2).sum())
            inner.append(err)
        best = alphas[int(np.argmin(inner))]
        pred = Ridge(alpha=best, fit_intercept=False).fit(z, yc).predict(z_test) + y_mean
        sse += float(((y[test] - pred) ** 2).sum())
        sst += float(((y[test] - y_mean) ** 2).sum())
    return 1.0 - sse / sst


@pytest.mark.parametrize("d", [8, 60])
def test_probe_r2_matches_sklearn_ridge_with_explicit_leave_one_lemma_out(d: int) -> None:
    items = planted_items(n_cell=2, n_neutral=6)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((len(items), d)) * rng.uniform(0.5, 3.0, d) + rng.normal(0, 5, d)
    w = rng.standard_normal((d, len(VECTOR_COLUMNS)))
    items[list(VECTOR_COLUMNS)] = x @ w / d + rng.standard_normal((len(items), len(VECTOR_COLUMNS)))
    _, lemma = read_labels(items, len(items))
    alphas = (0.1, 10.0, 1000.0)
    y = items[list(VECTOR_COLUMNS)].to_numpy()
    expected = _brute_force_probe(x, y, lemma, alphas)
    assert probe_r2(x, items, alphas=alphas) == pytest.approx(expected, abs=1e-9)
