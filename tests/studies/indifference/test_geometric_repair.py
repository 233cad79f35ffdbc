"""Geometric repair: fitting a subspace edit to a ground-truth similarity structure."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import collapsed_items

from valuescope.studies.indifference.geometric_repair import (
    at_displacement,
    displacement,
    fit_repair,
    in_subspace,
    normalised_gram,
    structure_loss,
    subspace_basis,
)


def pole_cosine(x: np.ndarray, cls: np.ndarray) -> float:
    virtue, vice = x[cls == 0].mean(0), x[cls == 1].mean(0)
    return float(virtue @ vice / np.linalg.norm(virtue) / np.linalg.norm(vice))


def test_repair_learns_the_structure_and_it_holds_on_new_items() -> None:
    x, t, _ = collapsed_items(200, seed=0)
    keep = np.zeros((50, 12))
    keep[:, 4:] = np.random.default_rng(1).standard_normal((50, 8))
    basis = subspace_basis(np.eye(12)[:4])
    repair = fit_repair(x, t, keep, basis, np.zeros(12), steps=600)
    assert repair.structure_after < 0.3 * repair.structure_before
    x_new, _, cls_new = collapsed_items(200, seed=2)
    assert pole_cosine(x_new, cls_new) > 0.9
    assert pole_cosine(repair.apply(x_new), cls_new) < 0.4
    # the complement of the subspace is untouched
    np.testing.assert_allclose(repair.apply(x_new)[:, 4:], x_new[:, 4:])
    assert repair.keep_change == pytest.approx(0.0, abs=1e-12)


def test_the_fast_gram_mismatch_equals_the_direct_one() -> None:
    import torch

    from valuescope.studies.indifference.geometric_repair import _gram_mismatch

    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((30, 4)), rng.random((30, 6))
    direct = structure_loss(z, t)
    assert float(_gram_mismatch(torch.as_tensor(z), torch.as_tensor(t))) == pytest.approx(direct, rel=1e-9)


def test_bases_grams_and_bad_input() -> None:
    b = subspace_basis(np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 1.0, 1.0]]))
    assert b.shape == (2, 3)
    np.testing.assert_allclose(b @ b.T, np.eye(2), atol=1e-12)
    g = normalised_gram(np.array([[1.0, 0.0], [0.0, 3.0]]))
    np.testing.assert_allclose(np.diag(g).mean(), 1.0)
    assert structure_loss(np.eye(3), 2 * np.eye(3)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="all zero"):
        subspace_basis(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-zero target"):
        fit_repair(np.ones((4, 3)), np.zeros((4, 2)), np.ones((1, 3)), np.eye(3)[:1], np.zeros(3))


def test_controls_are_rescaled_to_the_repairs_displacement_not_its_norm() -> None:
    x, t, _ = collapsed_items(80, seed=4)
    repair = fit_repair(x, t, x[:5], subspace_basis(np.eye(12)[:4]), np.zeros(12), steps=80)
    target = displacement(repair, x)
    assert target > 0
    moved = in_subspace(repair, subspace_basis(np.random.default_rng(1).standard_normal((4, 12))))
    matched = at_displacement(moved, x, target)
    assert displacement(matched, x) == pytest.approx(target, rel=1e-9)
    with pytest.raises(ValueError, match="shape"):
        in_subspace(repair, np.eye(12)[:3])
