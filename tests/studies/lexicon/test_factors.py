"""valuescope.studies.lexicon.factors on planted factor structures, pure noise and factor_analyzer itself."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest
import sklearn.utils
from sklearn.utils import check_array

from valuescope.studies.lexicon.factors import (
    ROWS_PER_TERM,
    EFAResult,
    adequacy,
    compat_check_array,
    factor_scores_by_group,
    fit_efa,
    load_factor_analyzer,
    parallel_analysis,
    parallel_table,
)

N_ROWS = 600
N_ITEMS = 10
TERMS = [f"term{j}" for j in range(N_ITEMS)]


def _planted(seed: int = 0, n: int = N_ROWS) -> np.ndarray:
    """Two unit-variance latent factors; items 0-4 load 0.8 on the first, 5-9 on the second (var 1)."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 2))
    loadings = np.zeros((N_ITEMS, 2))
    loadings[:5, 0] = 0.8
    loadings[5:, 1] = 0.8
    return latent @ loadings.T + 0.6 * rng.standard_normal((n, N_ITEMS))


@pytest.fixture(scope="module")
def continuous() -> np.ndarray:
    return _planted()


@pytest.fixture(scope="module")
def binary(continuous: np.ndarray) -> np.ndarray:
    return (continuous > 0).astype(float)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((N_ROWS, N_ITEMS))


def _assert_simple_structure(result: EFAResult) -> None:
    """Each planted block on its own factor: |loading| > 0.5 there and < 0.3 on the other."""
    loadings = result.loadings.to_numpy()
    first = int(np.argmax(np.abs(loadings[:5]).sum(axis=0)))
    own = np.where(np.arange(N_ITEMS) < 5, first, 1 - first)
    rows = np.arange(N_ITEMS)
    assert (np.abs(loadings[rows, own]) > 0.5).all(), result.loadings
    assert (np.abs(loadings[rows, 1 - own]) < 0.3).all(), result.loadings


# ------------------------------------------------------------------------------------- scikit-learn shim


def test_factor_analyzer_fits_through_our_import_on_installed_sklearn(continuous: np.ndarray) -> None:
    fa = load_factor_analyzer()
    model = fa.FactorAnalyzer(n_factors=2, rotation="varimax").fit(continuous)
    assert model.loadings_.shape == (N_ITEMS, 2)
    assert model.transform(continuous).shape == (N_ROWS, 2)


def test_installed_sklearn_rejects_the_old_keyword_the_shim_renames() -> None:
    if "force_all_finite" in inspect.signature(check_array).parameters:
        pytest.skip("this scikit-learn still accepts force_all_finite; the shim is a pass-through rename")
    with pytest.raises(TypeError, match="force_all_finite"):
        check_array(np.ones((2, 2)), force_all_finite=True)
    assert compat_check_array(check_array)(np.ones((2, 2)), force_all_finite=True).shape == (2, 2)


def test_shim_leaves_sklearn_itself_untouched() -> None:
    load_factor_analyzer()
    assert sklearn.utils.check_array is check_array
    assert not getattr(check_array, "__valuescope_shim__", False)
    import factor_analyzer.factor_analyzer as fa_module

    assert getattr(fa_module.check_array, "__valuescope_shim__", False)


def test_shim_renames_for_new_signature_and_passes_old_signature_through() -> None:
    seen: dict[str, object] = {}

    def new_style(array: object, *, ensure_all_finite: object = True) -> object:
        seen["ensure_all_finite"] = ensure_all_finite
        return array

    def old_style(array: object, *, force_all_finite: object = True) -> object:
        return array

    wrapped = compat_check_array(new_style)
    assert wrapped("x", force_all_finite="allow-nan") == "x"
    assert seen["ensure_all_finite"] == "allow-nan"
    assert compat_check_array(wrapped) is wrapped
    assert compat_check_array(old_style) is old_style


# ------------------------------------------------------------------------------------------- adequacy


def test_adequacy_of_planted_structure_is_high(continuous: np.ndarray, binary: np.ndarray) -> None:
    for x in (continuous, binary):
        out = adequacy(x, TERMS)
        assert out["kmo"] > 0.7
        assert out["bartlett_p"] < 0.001
        assert out["bartlett_df"] == N_ITEMS * (N_ITEMS - 1) // 2
        assert list(out["kmo_per_item"].index) == TERMS


def test_adequacy_of_noise_is_kmo_near_half(noise: np.ndarray) -> None:
    out = adequacy(noise)
    assert abs(out["kmo"] - 0.5) < 0.1
    assert out["bartlett_p"] > 0.001


def test_bartlett_matches_factor_analyzer(continuous: np.ndarray) -> None:
    statistic, p = load_factor_analyzer().calculate_bartlett_sphericity(continuous)
    out = adequacy(continuous)
    assert out["bartlett_chi2"] == pytest.approx(statistic, rel=1e-9)
    assert out["bartlett_p"] == pytest.approx(p, abs=1e-12)


def test_adequacy_drops_constant_columns_and_notes_singularity(continuous: np.ndarray) -> None:
    x = np.column_stack([continuous, np.ones(N_ROWS), continuous[:, 0]])
    out = adequacy(x, [*TERMS, "constant", "copy"])
    assert out["dropped"] == ["constant"]
    assert out["bartlett_chi2"] == float("inf")
    assert any("singular" in note for note in out["notes"])


# ---------------------------------------------------------------------------------- parallel analysis


def test_parallel_analysis_finds_two_planted_factors(continuous: np.ndarray, binary: np.ndarray) -> None:
    assert parallel_analysis(continuous) == 2
    assert parallel_analysis(binary, method="permute") == 2
    assert parallel_analysis(binary, method="normal") == 2


def test_parallel_analysis_of_noise_finds_at_most_one(noise: np.ndarray) -> None:
    assert parallel_analysis(noise) <= 1
    assert parallel_analysis(noise, method="permute") <= 1


def test_parallel_table_columns_and_leading_run(continuous: np.ndarray) -> None:
    table = parallel_table(continuous, n_iter=50, quantile=0.9, seed=3)
    assert list(table.columns) == ["observed", "null_mean", "null_quantile", "retained"]
    assert list(table.index) == list(range(1, N_ITEMS + 1))
    assert table["observed"].sum() == pytest.approx(N_ITEMS)
    assert table["retained"].tolist() == [True, True] + [False] * (N_ITEMS - 2)
    assert (table["null_quantile"] >= table["null_mean"]).all()


def test_parallel_table_is_deterministic_for_a_seed(binary: np.ndarray) -> None:
    a = parallel_table(binary, method="permute", n_iter=20, seed=5)
    b = parallel_table(binary, method="permute", n_iter=20, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_permute_and_normal_nulls_agree_on_independent_balanced_columns(binary: np.ndarray) -> None:
    shuffled = np.random.default_rng(2).permuted(binary, axis=0)  # the planted correlations destroyed
    permute = parallel_table(shuffled, method="permute", n_iter=200)
    normal = parallel_table(shuffled, method="normal", n_iter=200)
    np.testing.assert_allclose(permute["null_mean"], normal["null_mean"], atol=0.03)
    assert not permute["retained"].any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_iter": 0}, "n_iter"), ({"quantile": 1.0}, "quantile"), ({"method": "bootstrap"}, "method")],
)
def test_parallel_table_rejects_bad_arguments(
    continuous: np.ndarray, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        parallel_table(continuous, **kwargs)


# ---------------------------------------------------------------------------------------------- fit_efa


@pytest.mark.parametrize("rotation", ["oblimin", "varimax"])
def test_efa_recovers_planted_two_factor_structure(continuous: np.ndarray, rotation: str) -> None:
    result = fit_efa(continuous, TERMS, rotation=rotation)
    assert result.n_factors == 2
    assert result.parallel is not None
    assert result.rotation == rotation
    _assert_simple_structure(result)
    # planted standardised loading 0.8 -> communality 0.64
    assert result.communalities.to_numpy() == pytest.approx(np.full(N_ITEMS, 0.64), abs=0.08)


def test_efa_recovers_planted_structure_from_binary_data(binary: np.ndarray) -> None:
    result = fit_efa(binary, TERMS)
    assert result.n_factors == 2
    _assert_simple_structure(result)


def test_top_terms_are_the_planted_block(continuous: np.ndarray) -> None:
    result = fit_efa(continuous, TERMS, 2)
    blocks = {frozenset(result.top_terms(f, 5)) for f in ("F1", "F2")}
    assert blocks == {frozenset(TERMS[:5]), frozenset(TERMS[5:])}
    assert result.top_terms(0, 3) == result.top_terms("F1", 3)
    with pytest.raises(ValueError, match="no factor"):
        result.top_terms("F3")


def test_varimax_loadings_and_scores_match_factor_analyzer(continuous: np.ndarray) -> None:
    fa = load_factor_analyzer()
    model = fa.FactorAnalyzer(n_factors=2, rotation="varimax", svd_method="lapack").fit(continuous)
    result = fit_efa(continuous, TERMS, 2, rotation="varimax")
    np.testing.assert_allclose(result.loadings.to_numpy(), model.loadings_, atol=1e-6)
    np.testing.assert_allclose(result.scores.to_numpy(), model.transform(continuous), atol=1e-6)
    np.testing.assert_allclose(
        result.variance["ss_loadings"].to_numpy(), model.get_factor_variance()[0], atol=1e-6
    )


def test_oblimin_scores_match_factor_analyzer_up_to_factor_order(continuous: np.ndarray) -> None:
    fa = load_factor_analyzer()
    model = fa.FactorAnalyzer(n_factors=2, rotation="oblimin", svd_method="lapack").fit(continuous)
    result = fit_efa(continuous, TERMS, 2, rotation="oblimin")
    theirs = model.transform(continuous)
    ours = result.scores.to_numpy()
    order = [
        int(np.argmax([abs(np.corrcoef(ours[:, j], theirs[:, i])[0, 1]) for i in range(2)])) for j in (0, 1)
    ]
    np.testing.assert_allclose(ours, theirs[:, order], atol=1e-6)
    np.testing.assert_allclose(result.loadings.to_numpy(), model.loadings_[:, order], atol=1e-6)


def test_oblique_communalities_equal_unrotated_ones(continuous: np.ndarray) -> None:
    rotated = fit_efa(continuous, TERMS, 2, rotation="oblimin")
    unrotated = fit_efa(continuous, TERMS, 2, rotation=None)
    np.testing.assert_allclose(rotated.communalities, unrotated.communalities, atol=1e-6)
    np.testing.assert_allclose(rotated.structure, rotated.loadings @ rotated.factor_correlations, atol=1e-12)


def test_efa_of_noise_falls_back_to_one_factor_with_a_note(noise: np.ndarray) -> None:
    result = fit_efa(noise, TERMS)
    assert result.n_factors == 1
    assert result.rotation is None
    if not result.parallel["retained"].any():
        assert any("no factor" in note for note in result.notes)


def test_efa_refuses_too_few_rows_per_term(continuous: np.ndarray) -> None:
    n = ROWS_PER_TERM * N_ITEMS - 1
    with pytest.raises(ValueError, match="at least 5 rows per term"):
        fit_efa(continuous[:n], TERMS)


def test_efa_drops_constant_terms_and_reports_them(continuous: np.ndarray) -> None:
    x = np.column_stack([continuous, np.zeros(N_ROWS)])
    result = fit_efa(x, [*TERMS, "never"], 2)
    assert result.dropped == ("never",)
    assert list(result.loadings.index) == TERMS
    assert any("constant" in note for note in result.notes)


def test_efa_on_singular_correlations_fits_without_smc_and_notes_it(continuous: np.ndarray) -> None:
    x = np.column_stack([continuous, continuous[:, 0] + continuous[:, 5]])
    result = fit_efa(x, [*TERMS, "sum"], 2)
    assert any("singular" in note for note in result.notes)
    assert np.isfinite(result.scores.to_numpy()).all()
    _assert_simple_structure(dataclasses.replace(result, loadings=result.loadings.iloc[:N_ITEMS]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_factors": 10}, "n_factors"),
        ({"n_factors": 0}, "n_factors"),
        ({"rotation": "promax"}, "rotation"),
        ({"method": "pca"}, "method"),
    ],
)
def test_efa_rejects_bad_arguments(continuous: np.ndarray, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_efa(continuous, TERMS, **kwargs)


def test_efa_rejects_mismatched_terms_and_nan(continuous: np.ndarray) -> None:
    with pytest.raises(ValueError, match="terms must name"):
        fit_efa(continuous, TERMS[:-1])
    with pytest.raises(ValueError, match="unique"):
        fit_efa(continuous, [*TERMS[:-1], TERMS[0]])
    bad = continuous.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_efa(bad, TERMS)


def test_dataframe_columns_name_the_terms(continuous: np.ndarray) -> None:
    frame = pd.DataFrame(continuous, columns=TERMS)
    assert adequacy(frame)["kmo_per_item"].index.tolist() == TERMS


# -------------------------------------------------------------------------------------- scores by group


def test_factor_scores_by_group_separates_a_shifted_group() -> None:
    x = _planted(seed=4)
    groups = np.repeat(["model_a", "model_b"], N_ROWS // 2)
    x[groups == "model_b", :5] += 1.0  # model_b scores higher on the first block's factor
    result = fit_efa(x, TERMS, 2, rotation="varimax")
    by_group = factor_scores_by_group(result, groups)
    assert list(by_group.index) == ["model_a", "model_b"]
    assert by_group["n"].tolist() == [N_ROWS // 2, N_ROWS // 2]
    block = result.loadings.iloc[:5].abs().sum().idxmax()
    other = "F2" if block == "F1" else "F1"
    assert by_group.loc["model_b", block] - by_group.loc["model_a", block] > 0.7
    assert abs(by_group.loc["model_b", other] - by_group.loc["model_a", other]) < 0.2
    np.testing.assert_allclose(by_group.loc["model_a", block], result.scores[block][: N_ROWS // 2].mean())


def test_factor_scores_by_group_checks_length(continuous: np.ndarray) -> None:
    result = fit_efa(continuous, TERMS, 2)
    with pytest.raises(ValueError, match="one label per row"):
        factor_scores_by_group(result, ["a"] * 3)
