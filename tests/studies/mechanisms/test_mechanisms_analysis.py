"""The mechanisms study's core math (value vectors, shared and difference axes) on inputs with known
answers: planted data, hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.studies.mechanisms.analysis import (
    cosine_matrix,
    cross_value_cosine,
    excess_cosine,
    orthogonalise,
    shared_and_difference_axes,
    unit,
    value_vectors,
)

NAMES = ("power", "benevolence", "tradition", "hedonism")


def _orthonormal(rng: np.random.Generator, d: int, k: int) -> np.ndarray:
    """k random orthonormal rows in d dimensions."""
    q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return q.T


def _planted(
    rng: np.random.Generator, directions: np.ndarray, n: int, *, noise: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian x (n, d) shifted by directions[v] on the rows labelled v; labels random (p = 0.5 each)."""
    labels = rng.random((n, len(directions))) < 0.5
    x = rng.normal(0, noise, (n, directions.shape[1])) + labels.astype(float) @ directions
    return x, labels


# ------------------------------------------------------------------------------------------- value vectors


def test_value_vectors_are_positive_minus_negative_means() -> None:
    x = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    labels = np.array([[True, True], [True, False], [False, True], [False, False]])
    expected = np.array([[2.0, -3.0], [-1.0, -1.0]])
    np.testing.assert_allclose(value_vectors(x, labels, ["a", "b"]), expected)
    np.testing.assert_allclose(value_vectors(x, labels.astype(int), ["a", "b"]), expected)


def test_value_vectors_recover_planted_directions() -> None:
    rng = np.random.default_rng(0)
    directions = 3.0 * _orthonormal(rng, 32, 4)
    x, labels = _planted(rng, directions, 800)
    recovered = value_vectors(x, labels, NAMES)
    assert np.diag(cosine_matrix(recovered, directions)).min() > 0.95


@pytest.mark.parametrize(
    ("column", "message"),
    [(False, "no positive examples for 'tradition'"), (True, "no negative examples for 'tradition'")],
)
def test_value_vectors_error_names_the_value(column: bool, message: str) -> None:
    rng = np.random.default_rng(1)
    x, labels = _planted(rng, np.eye(4, 8), 20)
    labels[:, 2] = column
    with pytest.raises(ValueError, match=message):
        value_vectors(x, labels, NAMES)


def test_value_vectors_reject_bad_shapes_and_nan() -> None:
    rng = np.random.default_rng(2)
    x, labels = _planted(rng, np.eye(4, 8), 20)
    with pytest.raises(ValueError, match="one label row per response"):
        value_vectors(x[:-1], labels, NAMES)
    with pytest.raises(ValueError, match="one value per column"):
        value_vectors(x, labels, NAMES[:3])
    with pytest.raises(ValueError, match="bool or 0/1"):
        value_vectors(x, labels * 2, NAMES)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="x has 1 NaN"):
        value_vectors(x, labels, NAMES)


def test_unit_normalises_vectors_and_rows_and_rejects_zero_rows() -> None:
    np.testing.assert_allclose(unit(np.array([3.0, 4.0])), [0.6, 0.8])
    np.testing.assert_allclose(unit(np.array([[3.0, 4.0], [0.0, -2.0]])), [[0.6, 0.8], [0.0, -1.0]])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        unit(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="zero"):
        unit(np.zeros(3))


def test_cosine_matrix_known_values() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    np.testing.assert_allclose(
        cosine_matrix(a, np.array([[1.0, 1.0]])), np.full((3, 1), 1 / np.sqrt(2)) * [[1], [1], [-1]]
    )
    np.testing.assert_allclose(cosine_matrix(a), [[1, 0, -1], [0, 1, 0], [-1, 0, 1]], atol=1e-15)
    with pytest.raises(ValueError, match="width"):
        cosine_matrix(a, np.ones((2, 3)))


# ------------------------------------------------------------------------------ shared and difference axes


def test_axes_equal_normalised_sum_and_difference_and_the_svd() -> None:
    rng = np.random.default_rng(3)
    vi = rng.standard_normal((5, 12))
    vp = vi + 0.8 * rng.standard_normal((5, 12))  # positive cosine, so the SVD order is (sum, difference)
    shared, diff = shared_and_difference_axes(vi, vp)
    ui, up = unit(vi), unit(vp)
    np.testing.assert_allclose(shared, unit(ui + up))
    np.testing.assert_allclose(diff, unit(ui - up))
    for v in range(5):
        left = np.linalg.svd(np.stack([ui[v], up[v]], axis=1), full_matrices=False)[0]
        np.testing.assert_allclose(abs(left[:, 0] @ shared[v]), 1.0)
        np.testing.assert_allclose(abs(left[:, 1] @ diff[v]), 1.0)
    np.testing.assert_allclose(np.linalg.norm(shared, axis=1), 1.0)
    np.testing.assert_allclose(np.einsum("vd,vd->v", shared, diff), 0.0, atol=1e-12)
    assert (np.einsum("vd,vd->v", diff, ui) > 0).all()  # the difference points to the intrinsic side


def test_axes_recover_planted_shared_and_unique_axes() -> None:
    rng = np.random.default_rng(4)
    basis = _orthonormal(rng, 32, 8)
    shared_true, unique_true = basis[:4], basis[4:]  # per value: its shared axis and its unique axis
    x_i, lab_i = _planted(rng, 3.0 * shared_true + 1.5 * unique_true, 800)
    x_p, lab_p = _planted(rng, 3.0 * shared_true - 1.5 * unique_true, 800)
    shared, diff = shared_and_difference_axes(
        value_vectors(x_i, lab_i, NAMES), value_vectors(x_p, lab_p, NAMES)
    )
    assert np.diag(cosine_matrix(shared, shared_true)).min() > 0.95
    assert np.diag(cosine_matrix(diff, unique_true)).min() > 0.95


def test_axes_reject_parallel_vectors() -> None:
    v = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"rows \[0\].*parallel"):
        shared_and_difference_axes(v, np.array([[2.0, 4.0, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="differ in shape"):
        shared_and_difference_axes(v, v[:1])


def test_orthogonalise_removes_the_component_along_b() -> None:
    np.testing.assert_allclose(orthogonalise(np.array([[1.0, 1.0]]), np.array([[2.0, 0.0]])), [[0.0, 1.0]])
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 9)), rng.standard_normal((6, 9))
    out = orthogonalise(a, b)
    np.testing.assert_allclose(np.einsum("vd,vd->v", out, b), 0.0, atol=1e-12)
    removed = a - out
    np.testing.assert_allclose(np.abs(np.diag(cosine_matrix(removed, b))), 1.0)


# ----------------------------------------------------------------------------------- reliability and nulls


def test_cross_value_and_excess_cosine_with_a_common_component() -> None:
    """a[v] = b[v] = e_v + c: same-value cosine 1, cross-value cosine |c|² / (1 + |c|²) = 1/2."""
    a = np.hstack([np.eye(4), np.ones((4, 1))])
    assert cross_value_cosine(a, a) == pytest.approx(0.5)
    assert excess_cosine(a, a) == pytest.approx(0.5)
    b = a.copy()
    b[:, :4] *= -1  # same common part, opposite value parts: cos(a[v], b[v]) = 0, cross 1/2
    assert excess_cosine(a, b) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="at least 2 values"):
        cross_value_cosine(a[:1], a[:1])
