"""valuescope.analysis.mechanisms on inputs with known answers: planted data, hand counts, formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from valuescope.analysis import mechanisms as mech

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
    np.testing.assert_allclose(mech.value_vectors(x, labels, ["a", "b"]), expected)
    np.testing.assert_allclose(mech.value_vectors(x, labels.astype(int), ["a", "b"]), expected)


def test_value_vectors_recover_planted_directions() -> None:
    rng = np.random.default_rng(0)
    directions = 3.0 * _orthonormal(rng, 32, 4)
    x, labels = _planted(rng, directions, 800)
    recovered = mech.value_vectors(x, labels, NAMES)
    assert np.diag(mech.cosine_matrix(recovered, directions)).min() > 0.95


@pytest.mark.parametrize(
    ("column", "message"),
    [(False, "no positive examples for 'tradition'"), (True, "no negative examples for 'tradition'")],
)
def test_value_vectors_error_names_the_value(column: bool, message: str) -> None:
    rng = np.random.default_rng(1)
    x, labels = _planted(rng, np.eye(4, 8), 20)
    labels[:, 2] = column
    with pytest.raises(ValueError, match=message):
        mech.value_vectors(x, labels, NAMES)


def test_value_vectors_reject_bad_shapes_and_nan() -> None:
    rng = np.random.default_rng(2)
    x, labels = _planted(rng, np.eye(4, 8), 20)
    with pytest.raises(ValueError, match="one label row per response"):
        mech.value_vectors(x[:-1], labels, NAMES)
    with pytest.raises(ValueError, match="one value per column"):
        mech.value_vectors(x, labels, NAMES[:3])
    with pytest.raises(ValueError, match="bool or 0/1"):
        mech.value_vectors(x, labels * 2, NAMES)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="x has 1 NaN"):
        mech.value_vectors(x, labels, NAMES)


def test_unit_normalises_vectors_and_rows_and_rejects_zero_rows() -> None:
    np.testing.assert_allclose(mech.unit(np.array([3.0, 4.0])), [0.6, 0.8])
    np.testing.assert_allclose(mech.unit(np.array([[3.0, 4.0], [0.0, -2.0]])), [[0.6, 0.8], [0.0, -1.0]])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        mech.unit(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="zero"):
        mech.unit(np.zeros(3))


def test_cosine_matrix_known_values() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    np.testing.assert_allclose(
        mech.cosine_matrix(a, np.array([[1.0, 1.0]])), np.full((3, 1), 1 / np.sqrt(2)) * [[1], [1], [-1]]
    )
    np.testing.assert_allclose(mech.cosine_matrix(a), [[1, 0, -1], [0, 1, 0], [-1, 0, 1]], atol=1e-15)
    with pytest.raises(ValueError, match="width"):
        mech.cosine_matrix(a, np.ones((2, 3)))


# ------------------------------------------------------------------------------ shared and difference axes


def test_axes_equal_normalised_sum_and_difference_and_the_svd() -> None:
    rng = np.random.default_rng(3)
    vi = rng.standard_normal((5, 12))
    vp = vi + 0.8 * rng.standard_normal((5, 12))  # positive cosine, so the SVD order is (sum, difference)
    shared, diff = mech.shared_and_difference_axes(vi, vp)
    ui, up = mech.unit(vi), mech.unit(vp)
    np.testing.assert_allclose(shared, mech.unit(ui + up))
    np.testing.assert_allclose(diff, mech.unit(ui - up))
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
    shared, diff = mech.shared_and_difference_axes(
        mech.value_vectors(x_i, lab_i, NAMES), mech.value_vectors(x_p, lab_p, NAMES)
    )
    assert np.diag(mech.cosine_matrix(shared, shared_true)).min() > 0.95
    assert np.diag(mech.cosine_matrix(diff, unique_true)).min() > 0.95


def test_axes_reject_parallel_vectors() -> None:
    v = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"rows \[0\].*parallel"):
        mech.shared_and_difference_axes(v, np.array([[2.0, 4.0, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="differ in shape"):
        mech.shared_and_difference_axes(v, v[:1])


def test_orthogonalise_removes_the_component_along_b() -> None:
    np.testing.assert_allclose(
        mech.orthogonalise(np.array([[1.0, 1.0]]), np.array([[2.0, 0.0]])), [[0.0, 1.0]]
    )
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 9)), rng.standard_normal((6, 9))
    out = mech.orthogonalise(a, b)
    np.testing.assert_allclose(np.einsum("vd,vd->v", out, b), 0.0, atol=1e-12)
    removed = a - out
    np.testing.assert_allclose(np.abs(np.diag(mech.cosine_matrix(removed, b))), 1.0)


# ------------------------------------------------------------------------------------------- value neurons


def _neurons_at(angles_deg: list[float], magnitudes: list[float], d: int = 5) -> np.ndarray:
    """Write rows with in-plane direction at the given angles (from e0 toward e1) plus off-plane e2 mass."""
    theta = np.radians(angles_deg)
    write = np.zeros((len(angles_deg), d))
    write[:, 0] = np.cos(theta) * magnitudes
    write[:, 1] = np.sin(theta) * magnitudes
    write[:, 2] = 5.0  # off the plane: must not change score or angle
    return write


def test_classify_neurons_angles_kinds_and_order() -> None:
    angles = [0, 10, -10, 45, -45, 80, -80, 170, 90, -135]
    expected_angle = [0, 10, -10, 45, -45, 80, -80, -10, 90, 45]  # the line's angle, a < 0 flipped
    magnitudes = [10.0 - i for i in range(10)]
    write = np.vstack([_neurons_at(angles, magnitudes), _neurons_at([0.0] * 10, [0.1] * 10)])
    e = np.eye(5)
    table = mech.classify_neurons(write, e[0], e[1], top_fraction=0.5, angle_deg=30.0)
    assert list(table.columns) == ["neuron", "score", "angle", "kind"]
    assert table["neuron"].tolist() == list(range(10))  # the 10 planted ones, by score
    np.testing.assert_allclose(table["score"], magnitudes)
    np.testing.assert_allclose(table["angle"], expected_angle, atol=1e-9)
    assert table["kind"].tolist() == [
        "shared", "shared", "shared", "intrinsic", "prompted",
        "intrinsic", "prompted", "shared", "intrinsic", "intrinsic",
    ]  # fmt: skip


@pytest.mark.parametrize(("fraction", "count"), [(0.1, 3), (0.11, 4), (1 / 30, 1), (1.0, 30)])
def test_classify_neurons_keeps_ceil_of_top_fraction(fraction: float, count: int) -> None:
    write = np.random.default_rng(6).standard_normal((30, 4))
    e = np.eye(4)
    table = mech.classify_neurons(write, e[0], e[1], fraction, 30.0)
    assert len(table) == count
    scores = np.hypot(write[:, 0], write[:, 1])
    assert set(table["neuron"]) == set(np.argsort(-scores)[:count].tolist())


def test_classify_neurons_rejects_bad_arguments() -> None:
    write, e = np.ones((4, 3)), np.eye(3)
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError, match="top_fraction"):
            mech.classify_neurons(write, e[0], e[1], fraction, 30.0)
    for angle in (0.0, 90.0):
        with pytest.raises(ValueError, match="angle_deg"):
            mech.classify_neurons(write, e[0], e[1], 0.5, angle)
    with pytest.raises(ValueError, match="orthonormal"):
        mech.classify_neurons(write, e[0], e[0] + e[1], 0.5, 30.0)


def test_neuron_kinds_matches_classify_neurons_value_by_value() -> None:
    rng = np.random.default_rng(0)
    write = rng.normal(size=(200, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 6)))
    shared, difference = q[:, :3].T, q[:, 3:].T
    codes = mech.neuron_kinds(write, shared, difference, 0.1, 30.0)
    names = {1: "shared", 2: "intrinsic", 3: "prompted"}
    for v in range(3):
        table = mech.classify_neurons(write, shared[v], difference[v], 0.1, 30.0)
        expect = dict(zip(table["neuron"], table["kind"], strict=True))
        got = {int(i): names[int(c)] for i, c in enumerate(codes[v]) if c}
        assert got == expect


def test_top_rows_is_the_stable_sort_of_each_column_without_sorting_it() -> None:
    rng = np.random.default_rng(3)
    for n, k in ((1000, 1), (1000, 10), (1000, 124), (1000, 900), (7, 3)):
        for score in (rng.normal(size=(n, 4)), np.round(rng.normal(size=(n, 4)), 1), np.ones((n, 4))):
            score[0, 0] = np.inf
            expect = np.argsort(-score, axis=0, kind="stable")[:k]
            np.testing.assert_array_equal(mech.top_rows(score, k), expect)


def test_neuron_kinds_names_a_non_finite_write_matrix() -> None:
    write = np.ones((200, 4))
    write[5, 2] = np.nan
    axes = np.eye(4)[None, :2].repeat(1, axis=0)
    with pytest.raises(ValueError, match="write has 1 NaN"):
        mech.neuron_kinds(write, axes[:, 0], axes[:, 1], 0.1, 30.0)


def test_random_plane_null_matches_uniform_angle_null_for_isotropic_writes() -> None:
    assert mech.shared_fraction_null(30.0) == pytest.approx(1 / 3)
    write = np.random.default_rng(7).standard_normal((2000, 16))
    null = mech.random_plane_shared_fraction(write, 0.25, 30.0, n=300, seed=0)
    assert null.shape == (300,)
    assert ((null >= 0) & (null <= 1)).all()
    assert null.mean() == pytest.approx(mech.shared_fraction_null(30.0), abs=0.01)
    np.testing.assert_array_equal(null, mech.random_plane_shared_fraction(write, 0.25, 30.0, n=300, seed=0))


def test_random_plane_null_agrees_with_classify_neurons_on_the_same_plane() -> None:
    """The whole null is one plane's verdict when every write vector lies on one line: 0 or 1."""
    rng = np.random.default_rng(8)
    write = rng.standard_normal(6)[None, :] * rng.uniform(0.5, 2.0, (40, 1))
    null = mech.random_plane_shared_fraction(write, 0.5, 30.0, n=400, seed=1)
    assert set(np.unique(null)) <= {0.0, 1.0}
    assert null.mean() == pytest.approx(1 / 3, abs=0.07)  # the line's angle in a random plane is uniform


# ------------------------------------------------------------------------------------- circumplex geometry


def test_circumplex_theory_known_entries() -> None:
    t = mech.circumplex_theory(10)
    np.testing.assert_allclose(np.diag(t), 1.0)
    np.testing.assert_allclose([t[0, 1], t[0, 9], t[3, 4]], np.cos(np.pi / 5))
    np.testing.assert_allclose([t[0, 5], t[2, 7]], -1.0)
    np.testing.assert_allclose(t, t.T)
    np.testing.assert_allclose(
        mech.circumplex_theory(4), [[1, 0, -1, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1]], atol=1e-15
    )


def test_offdiagonal_is_the_upper_triangle_row_by_row() -> None:
    m = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(mech.offdiagonal(m), [1.0, 2.0, 5.0])
    with pytest.raises(ValueError, match="square"):
        mech.offdiagonal(np.ones((2, 3)))


def _noisy(matrix: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    noise = rng.normal(0, sd, matrix.shape)
    return matrix + (noise + noise.T) / 2


def test_circumplex_fit_of_the_theory_with_itself() -> None:
    theory = mech.circumplex_theory(10)
    rho, p = mech.circumplex_fit(_noisy(theory, np.random.default_rng(9), 0.05), theory, n_perm=500)
    assert rho > 0.95
    assert p < 0.01


def test_circumplex_fit_of_a_label_shuffled_matrix_is_not_significant() -> None:
    theory = mech.circumplex_theory(10)
    rng = np.random.default_rng(10)
    perm = np.array([3, 8, 1, 6, 0, 9, 4, 2, 7, 5])
    rho, p = mech.circumplex_fit(_noisy(theory[perm][:, perm], rng, 0.05), theory, n_perm=500)
    assert rho < 0.5
    assert p > 0.05
    p_values = []
    for _ in range(40):
        q = rng.permutation(10)
        p_values.append(
            mech.circumplex_fit(theory[q][:, q], theory, n_perm=200, seed=int(rng.integers(1 << 30)))[1]
        )
    assert np.mean(np.array(p_values) <= 0.1) <= 0.25  # a valid test: p about uniform under the null


def test_circumplex_fit_rho_is_spearman_and_rank_invariant() -> None:
    rng = np.random.default_rng(11)
    m = _noisy(np.zeros((7, 7)), rng, 1.0)
    ref = _noisy(np.zeros((7, 7)), rng, 1.0)
    rho, p = mech.circumplex_fit(m, ref, n_perm=300, seed=3)
    assert rho == pytest.approx(spearmanr(mech.offdiagonal(m), mech.offdiagonal(ref)).statistic)
    assert (rho, p) == pytest.approx(mech.circumplex_fit(np.exp(m), ref, n_perm=300, seed=3))
    assert 1 / 301 <= p <= 1


def test_circumplex_fit_rejects_bad_matrices() -> None:
    t = mech.circumplex_theory(6)
    with pytest.raises(ValueError, match="differ in shape"):
        mech.circumplex_fit(t, mech.circumplex_theory(5))
    with pytest.raises(ValueError, match="square"):
        mech.circumplex_fit(t[:, :5], t)
    with pytest.raises(ValueError, match="at least 4"):
        mech.circumplex_fit(t[:3, :3], t[:3, :3])
    bad = t.copy()
    bad[0, 1] = bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mech.circumplex_fit(bad, t)
    skew = t.copy()
    skew[0, 1] += 0.5
    with pytest.raises(ValueError, match="symmetric"):
        mech.circumplex_fit(skew, t)


def test_circumplex_coordinates_put_the_theory_on_a_circle_in_order() -> None:
    coords = mech.circumplex_coordinates(mech.circumplex_theory(10))
    np.testing.assert_allclose(np.linalg.norm(coords, axis=1), 1.0)
    np.testing.assert_allclose(coords[0], [1.0, 0.0], atol=1e-12)
    angles = np.degrees(np.arctan2(coords[:, 1], coords[:, 0])) % 360
    np.testing.assert_allclose(angles, np.arange(10) * 36.0, atol=1e-9)
    assert mech.circular_order_score(coords) == 1.0


def test_circumplex_coordinates_of_a_relabelled_matrix_follow_the_labels() -> None:
    perm = np.array([3, 8, 1, 6, 0, 9, 4, 2, 7, 5])  # row i holds value perm[i]
    coords = mech.circumplex_coordinates(mech.circumplex_theory(10)[perm][:, perm])
    assert mech.circular_order_score(coords, order=np.argsort(perm)) == 1.0
    assert mech.circular_order_score(coords) < 0.5


def test_circular_order_score_hand_count() -> None:
    square = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # by angle: 0, 2, 1, 3
    assert mech.circular_order_score(square) == 0.5  # of pairs 01, 12, 23, 30 only 12 and 30 neighbour
    assert mech.circular_order_score(square, order=[0, 2, 1, 3]) == 1.0
    with pytest.raises(ValueError, match="permutation"):
        mech.circular_order_score(square, order=[0, 1, 1, 3])


# ------------------------------------------------------------------------------------------------ steering

ITEMS = np.array(["A", "A", "A", "B", "B", "C"])
DELTA = np.array([1.0, 2.0, 3.0, 0.0, 0.0, 3.0])  # means: A 2, B 0, C 3


def test_value_deltas_are_per_value_means_in_order() -> None:
    np.testing.assert_allclose(mech.value_deltas(DELTA, ITEMS, ["C", "A", "B"]), [3.0, 2.0, 0.0])
    with pytest.raises(ValueError, match=r"no items measure \['D'\]"):
        mech.value_deltas(DELTA, ITEMS, ["A", "D"])


def test_steering_shift_weighs_every_other_value_equally() -> None:
    assert mech.steering_shift(DELTA, ITEMS, "A") == pytest.approx(2.0 - (0.0 + 3.0) / 2)  # not 2 - 1
    assert mech.steering_shift(DELTA, ITEMS, "B") == pytest.approx(0.0 - 2.5)
    with pytest.raises(ValueError, match="no items measure the target 'D'"):
        mech.steering_shift(DELTA, ITEMS, "D")
    with pytest.raises(ValueError, match="other values"):
        mech.steering_shift(DELTA[:3], ITEMS[:3], "A")
    with pytest.raises(ValueError, match="one value per item"):
        mech.steering_shift(DELTA, ITEMS[:5], "A")


def test_neighbour_response_on_constructed_profiles() -> None:
    closeness = mech.circumplex_theory(10)[3]
    profile = 2.0 * closeness + 1.0
    profile[3] = 100.0  # the target's own delta is left out
    assert mech.neighbour_response(profile, 3) == pytest.approx(1.0)
    assert mech.neighbour_response(-profile, 3) == pytest.approx(-1.0)
    assert np.isnan(mech.neighbour_response(np.ones(10), 3))
    with pytest.raises(ValueError, match="target_index"):
        mech.neighbour_response(profile, 10)
    with pytest.raises(ValueError, match="at least 4"):
        mech.neighbour_response(np.arange(3.0), 0)


# ----------------------------------------------------------------------------------------------- diversity


def test_distinct_n_hand_counts() -> None:
    texts = ["The cat sat.", "the cat ran"]
    assert mech.distinct_n(texts, 2) == pytest.approx(3 / 4)  # the-cat twice, cat-sat, cat-ran
    assert mech.distinct_n(texts, 1) == pytest.approx(4 / 6)
    assert mech.distinct_n(["a b", "a b"], 2) == pytest.approx(1 / 2)  # no "b a" across the texts
    assert mech.distinct_n(["Don't stop", "don't STOP!"], 1) == pytest.approx(2 / 4)  # don't is one word


def test_distinct_n_errors() -> None:
    with pytest.raises(ValueError, match="no word 2-grams"):
        mech.distinct_n(["don't", ""], 2)
    with pytest.raises(ValueError, match="not one string"):
        mech.distinct_n("a b c", 2)


def test_embedding_diversity_known_values() -> None:
    e = np.array([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]])  # pair distances 1, 2, 1
    assert mech.embedding_diversity(e) == pytest.approx(4 / 3)
    assert mech.embedding_diversity(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        mech.embedding_diversity(np.ones((1, 3)))


# ----------------------------------------------------------------------------------- reliability and nulls


def test_cross_value_and_excess_cosine_with_a_common_component() -> None:
    """a[v] = b[v] = e_v + c: same-value cosine 1, cross-value cosine |c|² / (1 + |c|²) = 1/2."""
    a = np.hstack([np.eye(4), np.ones((4, 1))])
    assert mech.cross_value_cosine(a, a) == pytest.approx(0.5)
    assert mech.excess_cosine(a, a) == pytest.approx(0.5)
    b = a.copy()
    b[:, :4] *= -1  # same common part, opposite value parts: cos(a[v], b[v]) = 0, cross 1/2
    assert mech.excess_cosine(a, b) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="at least 2 values"):
        mech.cross_value_cosine(a[:1], a[:1])
