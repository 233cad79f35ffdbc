"""Circumplex geometry: the theoretical circle, the rank fit and its permutation p, MDS coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from valuescope.studies.mechanisms.circumplex_geometry import (
    circular_order_score,
    circumplex_coordinates,
    circumplex_fit,
    circumplex_theory,
    offdiagonal,
)


def test_circumplex_theory_known_entries() -> None:
    t = circumplex_theory(10)
    np.testing.assert_allclose(np.diag(t), 1.0)
    np.testing.assert_allclose([t[0, 1], t[0, 9], t[3, 4]], np.cos(np.pi / 5))
    np.testing.assert_allclose([t[0, 5], t[2, 7]], -1.0)
    np.testing.assert_allclose(t, t.T)
    np.testing.assert_allclose(
        circumplex_theory(4), [[1, 0, -1, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1]], atol=1e-15
    )


def test_offdiagonal_is_the_upper_triangle_row_by_row() -> None:
    m = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(offdiagonal(m), [1.0, 2.0, 5.0])
    with pytest.raises(ValueError, match="square"):
        offdiagonal(np.ones((2, 3)))


def _noisy(matrix: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    noise = rng.normal(0, sd, matrix.shape)
    return matrix + (noise + noise.T) / 2


def test_circumplex_fit_of_the_theory_with_itself() -> None:
    theory = circumplex_theory(10)
    rho, p = circumplex_fit(_noisy(theory, np.random.default_rng(9), 0.05), theory, n_perm=500)
    assert rho > 0.95
    assert p < 0.01


def test_circumplex_fit_of_a_label_shuffled_matrix_is_not_significant() -> None:
    theory = circumplex_theory(10)
    rng = np.random.default_rng(10)
    perm = np.array([3, 8, 1, 6, 0, 9, 4, 2, 7, 5])
    rho, p = circumplex_fit(_noisy(theory[perm][:, perm], rng, 0.05), theory, n_perm=500)
    assert rho < 0.5
    assert p > 0.05
    p_values = []
    for _ in range(40):
        q = rng.permutation(10)
        p_values.append(
            circumplex_fit(theory[q][:, q], theory, n_perm=200, seed=int(rng.integers(1 << 30)))[1]
        )
    assert np.mean(np.array(p_values) <= 0.1) <= 0.25  # a valid test: p about uniform under the null


def test_circumplex_fit_rho_is_spearman_and_rank_invariant() -> None:
    rng = np.random.default_rng(11)
    m = _noisy(np.zeros((7, 7)), rng, 1.0)
    ref = _noisy(np.zeros((7, 7)), rng, 1.0)
    rho, p = circumplex_fit(m, ref, n_perm=300, seed=3)
    assert rho == pytest.approx(spearmanr(offdiagonal(m), offdiagonal(ref)).statistic)
    assert (rho, p) == pytest.approx(circumplex_fit(np.exp(m), ref, n_perm=300, seed=3))
    assert 1 / 301 <= p <= 1


def test_circumplex_fit_rejects_bad_matrices() -> None:
    t = circumplex_theory(6)
    with pytest.raises(ValueError, match="differ in shape"):
        circumplex_fit(t, circumplex_theory(5))
    with pytest.raises(ValueError, match="square"):
        circumplex_fit(t[:, :5], t)
    with pytest.raises(ValueError, match="at least 4"):
        circumplex_fit(t[:3, :3], t[:3, :3])
    bad = t.copy()
    bad[0, 1] = bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        circumplex_fit(bad, t)
    skew = t.copy()
    skew[0, 1] += 0.5
    with pytest.raises(ValueError, match="symmetric"):
        circumplex_fit(skew, t)


def test_circumplex_coordinates_put_the_theory_on_a_circle_in_order() -> None:
    coords = circumplex_coordinates(circumplex_theory(10))
    np.testing.assert_allclose(np.linalg.norm(coords, axis=1), 1.0)
    np.testing.assert_allclose(coords[0], [1.0, 0.0], atol=1e-12)
    angles = np.degrees(np.arctan2(coords[:, 1], coords[:, 0])) % 360
    np.testing.assert_allclose(angles, np.arange(10) * 36.0, atol=1e-9)
    assert circular_order_score(coords) == 1.0


def test_circumplex_coordinates_of_a_relabelled_matrix_follow_the_labels() -> None:
    perm = np.array([3, 8, 1, 6, 0, 9, 4, 2, 7, 5])  # row i holds value perm[i]
    coords = circumplex_coordinates(circumplex_theory(10)[perm][:, perm])
    assert circular_order_score(coords, order=np.argsort(perm)) == 1.0
    assert circular_order_score(coords) < 0.5


def test_circular_order_score_hand_count() -> None:
    square = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # by angle: 0, 2, 1, 3
    assert circular_order_score(square) == 0.5  # of pairs 01, 12, 23, 30 only 12 and 30 neighbour
    assert circular_order_score(square, order=[0, 2, 1, 3]) == 1.0
    with pytest.raises(ValueError, match="permutation"):
        circular_order_score(square, order=[0, 1, 1, 3])
