"""Value neurons: classification by write angle and its nulls, on planted write vectors."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.studies.mechanisms.neuron_geometry import (
    classify_neurons,
    neuron_kinds,
    random_plane_shared_fraction,
    shared_fraction_null,
    top_rows,
)


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
    table = classify_neurons(write, e[0], e[1], top_fraction=0.5, angle_deg=30.0)
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
    table = classify_neurons(write, e[0], e[1], fraction, 30.0)
    assert len(table) == count
    scores = np.hypot(write[:, 0], write[:, 1])
    assert set(table["neuron"]) == set(np.argsort(-scores)[:count].tolist())


def test_classify_neurons_rejects_bad_arguments() -> None:
    write, e = np.ones((4, 3)), np.eye(3)
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError, match="top_fraction"):
            classify_neurons(write, e[0], e[1], fraction, 30.0)
    for angle in (0.0, 90.0):
        with pytest.raises(ValueError, match="angle_deg"):
            classify_neurons(write, e[0], e[1], 0.5, angle)
    with pytest.raises(ValueError, match="orthonormal"):
        classify_neurons(write, e[0], e[0] + e[1], 0.5, 30.0)


def test_neuron_kinds_matches_classify_neurons_value_by_value() -> None:
    rng = np.random.default_rng(0)
    write = rng.normal(size=(200, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 6)))
    shared, difference = q[:, :3].T, q[:, 3:].T
    codes = neuron_kinds(write, shared, difference, 0.1, 30.0)
    names = {1: "shared", 2: "intrinsic", 3: "prompted"}
    for v in range(3):
        table = classify_neurons(write, shared[v], difference[v], 0.1, 30.0)
        expect = dict(zip(table["neuron"], table["kind"], strict=True))
        got = {int(i): names[int(c)] for i, c in enumerate(codes[v]) if c}
        assert got == expect


def test_top_rows_is_the_stable_sort_of_each_column_without_sorting_it() -> None:
    rng = np.random.default_rng(3)
    for n, k in ((1000, 1), (1000, 10), (1000, 124), (1000, 900), (7, 3)):
        for score in (rng.normal(size=(n, 4)), np.round(rng.normal(size=(n, 4)), 1), np.ones((n, 4))):
            score[0, 0] = np.inf
            expect = np.argsort(-score, axis=0, kind="stable")[:k]
            np.testing.assert_array_equal(top_rows(score, k), expect)


def test_neuron_kinds_names_a_non_finite_write_matrix() -> None:
    write = np.ones((200, 4))
    write[5, 2] = np.nan
    axes = np.eye(4)[None, :2].repeat(1, axis=0)
    with pytest.raises(ValueError, match="write has 1 NaN"):
        neuron_kinds(write, axes[:, 0], axes[:, 1], 0.1, 30.0)


def test_random_plane_null_matches_uniform_angle_null_for_isotropic_writes() -> None:
    assert shared_fraction_null(30.0) == pytest.approx(1 / 3)
    write = np.random.default_rng(7).standard_normal((2000, 16))
    null = random_plane_shared_fraction(write, 0.25, 30.0, n=300, seed=0)
    assert null.shape == (300,)
    assert ((null >= 0) & (null <= 1)).all()
    assert null.mean() == pytest.approx(shared_fraction_null(30.0), abs=0.01)
    np.testing.assert_array_equal(null, random_plane_shared_fraction(write, 0.25, 30.0, n=300, seed=0))


def test_random_plane_null_agrees_with_classify_neurons_on_the_same_plane() -> None:
    """The whole null is one plane's verdict when every write vector lies on one line: 0 or 1."""
    rng = np.random.default_rng(8)
    write = rng.standard_normal(6)[None, :] * rng.uniform(0.5, 2.0, (40, 1))
    null = random_plane_shared_fraction(write, 0.5, 30.0, n=400, seed=1)
    assert set(np.unique(null)) <= {0.0, 1.0}
    assert null.mean() == pytest.approx(1 / 3, abs=0.07)  # the line's angle in a random plane is uniform
