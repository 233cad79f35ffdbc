"""valuescope.studies.indifference.typicality on planted geometries: the gradient along prototype axes."""

from __future__ import annotations

import numpy as np
from planted_geometry import D, directions, geometry, memorisation_data, planted_items, planted_positions

from valuescope.data.moral_items import FOUNDATIONS
from valuescope.studies.indifference.typicality import (
    crossfit_typicality_spearman,
    typicality_by_foundation,
    typicality_spearman,
)


def test_typicality_gradient_with_both_measures_and_by_foundation() -> None:
    items = planted_items()
    x, _ = geometry(items)
    assert crossfit_typicality_spearman(x, items) > 0.9
    # the cosine peaks where an item is parallel to its prototype (typicality near the mean) ...
    assert crossfit_typicality_spearman(x, items, measure="cosine") < 0.7
    # ... and grows with typicality when items lie on a ray from the neutral mean, noise fixed
    ray, _ = geometry(items, valence=0.0, foundation=0.0, cell=1.0)
    assert crossfit_typicality_spearman(ray, items, measure="cosine") > 0.8
    fit = np.zeros(len(items), dtype=bool)
    fit[::4] = True  # every other lemma (items come in lemma pairs)
    fit[1::4] = True
    assert typicality_spearman(x, items, fit, ~fit) > 0.9
    frame = typicality_by_foundation(x, items, fit, ~fit)
    assert frame.foundation.tolist() == list(FOUNDATIONS)
    assert (frame.spearman > 0.8).all()
    assert frame.n.sum() == int((~fit & (items.kind != "neutral").to_numpy()).sum())


def test_projection_mixes_item_norm_and_cosine_does_not() -> None:
    """Items at one position along the axis but at typicality-graded distances off it."""
    items = planted_items()
    rng = np.random.default_rng(3)
    dirs = directions(rng)
    x = planted_positions(items, dirs, valence=1.0, foundation=0.0, cell=0.0, mirror=True)
    off = rng.standard_normal((len(items), D))
    off -= np.outer(off @ dirs["virtue"], dirs["virtue"])
    x = x + (items.typicality.to_numpy() * 5.0)[:, None] * off / np.linalg.norm(off, axis=1, keepdims=True)
    x += 0.01 * rng.standard_normal(x.shape)
    assert abs(crossfit_typicality_spearman(x, items)) < 0.3
    assert crossfit_typicality_spearman(x, items, measure="cosine") < -0.8


def test_crossfit_typicality_keeps_lemmas_together() -> None:
    items, x = memorisation_data()
    split_twins = items.assign(lemma=np.arange(len(items)))
    for seed in range(3):
        assert abs(crossfit_typicality_spearman(x, items, seed=seed)) < 0.15
        assert crossfit_typicality_spearman(x, split_twins, seed=seed) > 0.2  # the leak this guards against
