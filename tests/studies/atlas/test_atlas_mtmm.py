"""The MTMM matrix and its Campbell-Fiske criteria on planted structure: methods that share a latent trait
score converge, independent methods do not, a method with shuffled traits fails the first discriminant
criterion; a hand-built matrix with known criteria; validation, NaN rows and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuescope.studies.atlas.mtmm import (
    campbell_fiske,
    mtmm_matrix,
    mtmm_summary,
    mtmm_table,
)

N_ITEMS, N_TRAITS = 150, 6
FAST = {"n_boot": 200, "n_perm": 200}


def shared_latent(noise: float = 0.2, n_methods: int = 3, seed: int = 1) -> dict[str, np.ndarray]:
    """Every method = one latent score per item and trait plus its own small noise."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(N_ITEMS, N_TRAITS))
    return {f"m{k}": latent + noise * rng.normal(size=latent.shape) for k in range(n_methods)}


def test_shared_latent_converges_and_discriminates() -> None:
    res = mtmm_summary(shared_latent(), **FAST)
    assert res.convergent.estimate > 0.8 and res.convergent.ci_low > 0.8
    assert abs(res.discriminant.estimate) < 0.1
    assert abs(res.discriminant_monomethod.estimate) < 0.1
    assert res.criteria_share.estimate == 1.0
    assert res.convergent.p is not None and res.convergent.p < 0.02
    assert res.criteria_share.p is not None and res.criteria_share.p < 0.02
    assert res.discriminant.p == res.convergent_minus_discriminant.p
    assert res.discriminant.p is not None and res.discriminant.p < 0.02
    assert res.null_medians["convergent"] < 0.4  # a random trait order keeps ~1 of 6 traits in place
    assert res.discriminant_monomethod.p is None and "discriminant_monomethod" not in res.null_medians
    for name in ("convergent", "discriminant", "criteria_share", "convergent_minus_discriminant"):
        e = getattr(res, name)
        assert e.ci_low <= e.estimate <= e.ci_high and e.n == N_ITEMS
    assert (res.n_items, res.n_dropped, res.methods) == (N_ITEMS, 0, ("m0", "m1", "m2"))
    assert res.constant_columns == ()


def test_independent_methods_do_not_converge() -> None:
    rng = np.random.default_rng(2)
    scores = {m: rng.normal(size=(N_ITEMS, N_TRAITS)) for m in ("a", "b", "c")}
    res = mtmm_summary(scores, **FAST)
    assert abs(res.convergent.estimate) < 0.1
    assert res.convergent.ci_low < 0 < res.convergent.ci_high
    assert res.convergent.p is not None and res.convergent.p > 0.1
    assert res.convergent_minus_discriminant.p is not None and res.convergent_minus_discriminant.p > 0.1


def test_method_with_shuffled_traits_fails_the_first_criterion() -> None:
    scores = shared_latent()
    scores["m2"] = np.roll(scores["m2"], 1, axis=1)  # trait t of m2 measures trait t-1: no trait in place
    res = mtmm_summary(scores, **FAST)
    # only the pair (m0, m1) keeps its validity diagonal on top; (m0, m2) and (m1, m2) lose every trait
    assert res.criteria_share.estimate == pytest.approx(1 / 3)
    assert res.convergent.estimate < 0.4
    table = res.convergent_table
    by_pair = table.groupby(["method_a", "method_b"])["r"].mean()
    assert by_pair[("m0", "m1")] > 0.9 and abs(by_pair[("m0", "m2")]) < 0.2


def test_campbell_fiske_on_a_hand_built_matrix() -> None:
    mono_a = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.1], [0.2, 0.1, 1.0]])
    mono_b = np.array([[1.0, 0.4, 0.1], [0.4, 1.0, 0.0], [0.1, 0.0, 1.0]])
    # hetero[i, j] = r(method a trait i, method b trait j)
    hetero = np.array([[0.7, 0.2, 0.1], [0.3, 0.5, 0.6], [0.0, 0.1, 0.4]])
    corr = np.block([[mono_a, hetero], [hetero.T, mono_b]])
    got = campbell_fiske(corr, 2, 3)
    assert got["convergent"] == pytest.approx((0.7 + 0.5 + 0.4) / 3)
    assert got["discriminant"] == pytest.approx((0.2 + 0.1 + 0.3 + 0.6 + 0.0 + 0.1) / 6)
    assert got["discriminant_monomethod"] == pytest.approx((0.3 + 0.2 + 0.1 + 0.4 + 0.1 + 0.0) / 6)
    # trait 0: 0.7 tops row {0.2, 0.1} and column {0.3, 0.0}; trait 1: 0.5 < 0.6 in its row;
    # trait 2: 0.4 < 0.6 in its column
    assert got["criteria_share"] == pytest.approx(1 / 3)
    # a NaN entry is skipped, not propagated
    corr_nan = corr.copy()
    corr_nan[0, 4] = corr_nan[4, 0] = np.nan  # hetero[0, 1]
    got_nan = campbell_fiske(corr_nan, 2, 3)
    assert got_nan["discriminant"] == pytest.approx((0.1 + 0.3 + 0.6 + 0.0 + 0.1) / 5)
    assert got_nan["criteria_share"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r"\(6, 6\)"):
        campbell_fiske(corr[:5, :5], 2, 3)


def test_matrix_labels_and_dataframe_input() -> None:
    scores = shared_latent(n_methods=2)
    traits = [f"v{i}" for i in range(N_TRAITS)]
    frames = {m: pd.DataFrame(a, columns=traits) for m, a in scores.items()}
    mat = mtmm_matrix(frames)
    assert mat.shape == (2 * N_TRAITS, 2 * N_TRAITS)
    assert list(mat.index.names) == ["method", "trait"] and mat.columns.equals(mat.index)
    assert mat.index[N_TRAITS + 1] == ("m1", "v1")
    np.testing.assert_allclose(np.diag(mat.to_numpy()), 1.0)
    np.testing.assert_allclose(mat.to_numpy(), mat.to_numpy().T)
    expected = np.corrcoef(scores["m0"][:, 2], scores["m1"][:, 3])[0, 1]
    assert mat.loc[("m0", "v2"), ("m1", "v3")] == pytest.approx(expected)


def test_nan_rows_dropped_and_counted() -> None:
    scores = shared_latent()
    scores["m1"][[3, 5, 7], 0] = np.nan
    scores["m2"][[5, 9], 2] = np.nan
    res = mtmm_summary(scores, groups=np.arange(N_ITEMS) // 2, **FAST)
    assert (res.n_items, res.n_dropped) == (N_ITEMS - 4, 4)
    # groups 1, 2, 3 and 4 each lose one row, so all 75 groups remain
    assert res.convergent.n == N_ITEMS // 2
    keep = np.setdiff1d(np.arange(N_ITEMS), [3, 5, 7, 9])
    clean = mtmm_matrix({m: a[keep] for m, a in scores.items()})
    np.testing.assert_allclose(res.matrix.to_numpy(), clean.to_numpy())


def test_constant_trait_is_reported_and_skipped() -> None:
    scores = shared_latent()
    scores["m1"][:, 4] = 2.5
    res = mtmm_summary(scores, **FAST)
    assert res.constant_columns == (("m1", "trait_4"),)
    assert np.isfinite(res.convergent.estimate) and res.convergent.estimate > 0.8
    assert res.criteria_share.estimate == 1.0  # the NaN validity entries are left out, not counted false
    assert res.matrix.loc[("m1", "trait_4")].isna().all()


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ({"only": np.zeros((10, 4))}, "at least 2 methods"),
        ({"a": np.zeros((10, 4)), "b": np.zeros((9, 4))}, "'b' has shape"),
        ({"a": np.zeros((10, 2)), "b": np.zeros((10, 2))}, "at least 3 traits"),
        ({"a": np.zeros(10), "b": np.zeros(10)}, "'a' must be 2-D"),
        (
            {"a": pd.DataFrame(np.zeros((5, 3)), columns=list("xyz")), "b": pd.DataFrame(np.zeros((5, 3)))},
            "method 'b' has traits",
        ),
        ({"a": np.full((10, 3), np.nan), "b": np.zeros((10, 3))}, "only 0 rows are complete"),
    ],
)
def test_invalid_input_raises(scores: dict[str, np.ndarray], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mtmm_matrix(scores)


def test_groups_must_match_rows() -> None:
    with pytest.raises(ValueError, match="groups has 3 entries"):
        mtmm_summary(shared_latent(), groups=[0, 1, 2], **FAST)


def test_seeded_runs_repeat_and_the_table_reads_them() -> None:
    scores = shared_latent(noise=1.0, n_methods=2)
    first = mtmm_table(mtmm_summary(scores, seed=3, **FAST))
    pd.testing.assert_frame_equal(first, mtmm_table(mtmm_summary(scores, seed=3, **FAST)))
    other = mtmm_table(mtmm_summary(scores, seed=4, **FAST))
    assert not first[["ci_low", "p"]].equals(other[["ci_low", "p"]])
    assert list(first.columns) == ["criterion", "estimate", "ci_low", "ci_high", "p", "null_median"]
    assert list(first["criterion"]) == [
        "convergent",
        "discriminant",
        "discriminant_monomethod",
        "criteria_share",
        "convergent_minus_discriminant",
    ]
    mono = first.set_index("criterion").loc["discriminant_monomethod"]
    assert np.isnan(mono["p"]) and np.isnan(mono["null_median"])
