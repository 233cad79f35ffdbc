"""The cross-lingual measures on inputs with known answers: probe AUROC, its random-direction null, the
steering ratio, and the query-profile agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.crosslingual import _macro_auroc, _probe_table, _query_profiles, _ratio

VALUES = list(SCHWARTZ_VALUES)
CFG = MechanismsConfig(n_boot=100, crosslingual_null=50)


def planted(n_per_value: int, signal: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Residuals (items, 10 + 6) whose first ten coordinates carry each item's value with ``signal``."""
    values = np.repeat(VALUES, n_per_value)
    x = rng.normal(size=(len(values), 16))
    for j, v in enumerate(VALUES):
        x[values == v, j] += signal
    return x, values


def test_macro_auroc_is_one_for_separated_values_and_a_half_for_noise() -> None:
    rng = np.random.default_rng(0)
    x, values = planted(4, 100.0, rng)
    vectors = np.eye(16)[:10]
    assert _macro_auroc(x @ vectors.T, values) == pytest.approx(1.0)
    noise = rng.normal(size=(4000, 10))
    assert _macro_auroc(noise, np.repeat(VALUES, 400)) == pytest.approx(0.5, abs=0.03)


def texts_for(x: np.ndarray, values: np.ndarray, language: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"s{i}" for i in range(len(values))],
            "kind": "statement",
            "language": language,
            "value": values,
            "reverse": False,
        }
    )


def test_the_probe_beats_its_random_direction_null_only_where_the_values_are_there() -> None:
    rng = np.random.default_rng(1)
    x_en, values = planted(4, 3.0, rng)
    x_zh = rng.normal(size=x_en.shape)  # nothing of the values in the other language
    texts = pd.concat([texts_for(x_en, values, "en"), texts_for(x_zh, values, "zh")], ignore_index=True)
    unit = np.eye(16)[:10]
    vectors = {k: unit for k in ("pooled", "shared", "intrinsic_only", "prompted_only")}
    table = _probe_table(texts, np.vstack([x_en, x_zh]), vectors, CFG, rng, seed=0).set_index(
        ["language", "kind"]
    )
    en, zh = table.loc[("en", "pooled")], table.loc[("zh", "pooled")]
    assert en["probe_auroc"] > en["probe_null_high"] and en["probe_p"] < 0.05
    assert en["probe_low"] <= en["probe_auroc"] <= en["probe_high"]
    assert zh["probe_null_low"] <= zh["probe_auroc"] <= zh["probe_null_high"] + 0.1
    assert zh["probe_p"] > 0.05


def test_the_steering_ratio_is_the_gain_over_the_english_gain() -> None:
    en = np.array([0.2, 0.4, 0.6])
    est, lo, hi = _ratio(0.5 * en, en, CFG, seed=0)
    assert est == pytest.approx(0.5)
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)  # the same ratio in every resample
    assert np.isnan(_ratio(en, np.zeros(3), CFG, seed=0)[0])  # no English gain: no ratio


def test_query_profiles_agree_where_a_translation_reads_like_its_source() -> None:
    rng = np.random.default_rng(2)
    x_en = rng.normal(size=(6, 16))
    rows = [
        pd.DataFrame({"item_id": [f"q{i}" for i in range(6)], "kind": "query", "language": lang})
        for lang in ("en", "fr", "ko")
    ]
    texts = pd.concat(rows, ignore_index=True)
    x = np.vstack([x_en, x_en + 0.01 * rng.normal(size=x_en.shape), rng.normal(size=x_en.shape)])
    table = _query_profiles(texts, x, np.eye(16)[:10], CFG, seed=0).set_index("language")
    assert table.loc["fr", "query_profile_r"] > 0.99
    assert abs(table.loc["ko", "query_profile_r"]) < 0.6
