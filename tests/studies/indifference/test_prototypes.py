"""valuescope.studies.indifference.prototypes on planted geometries: centred virtue-vice cosines."""

from __future__ import annotations

import numpy as np
import pytest
from planted_geometry import (
    N_CELL_LEMMAS,
    N_NEUTRAL_LEMMAS,
    PER_LEMMA,
    geometry,
    planted_cosines,
    planted_items,
)

from valuescope.data.moral_items import FOUNDATIONS, POLES
from valuescope.studies.indifference.prototypes import mean_virtue_vice_cosine, prototypes, virtue_vice_cosine


def test_prototypes_are_cell_means_minus_the_neutral_mean() -> None:
    items = planted_items(n_cell=1, n_neutral=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(items), 3))
    neutral = x[(items.kind == "neutral").to_numpy()].mean(axis=0)
    protos = prototypes(x, items)
    assert set(protos) == {(f, p) for f in FOUNDATIONS for p in POLES}
    care_vice = ((items.foundation == "care") & (items.kind == "vice")).to_numpy()
    np.testing.assert_allclose(protos[("care", "vice")], x[care_vice].mean(axis=0) - neutral)
    np.testing.assert_allclose(prototypes(x, items, raw=True)[("care", "vice")], x[care_vice].mean(axis=0))
    only_care = (items.foundation == "care").to_numpy() | (items.kind == "neutral").to_numpy()
    assert set(prototypes(x, items, only_care)) == {("care", "virtue"), ("care", "vice")}


@pytest.mark.parametrize(
    ("valence", "foundation", "cell", "mirror", "ideal"),
    [
        (1.0, 0.0, 0.0, True, -1.0),
        (1.0, 0.0, 0.0, False, 0.0),
        (0.0, 0.0, 1.0, True, 0.0),
        (1.0, 0.3, 1.0, True, None),
    ],
)
def test_centred_virtue_vice_cosine_matches_the_planted_geometry(
    valence: float, foundation: float, cell: float, mirror: bool, ideal: float | None
) -> None:
    items = planted_items()
    x, planted = geometry(items, valence=valence, foundation=foundation, cell=cell, mirror=mirror)
    frame = virtue_vice_cosine(x, items)
    assert list(frame.columns) == ["foundation", "cosine", "n_virtue", "n_vice"]
    assert frame.foundation.tolist() == list(FOUNDATIONS)
    assert (frame.n_virtue == N_CELL_LEMMAS * PER_LEMMA).all() and (
        frame.n_vice == N_CELL_LEMMAS * PER_LEMMA
    ).all()
    expected = planted_cosines(items, planted)
    if ideal is not None:
        np.testing.assert_allclose(expected, ideal, atol=1e-9)
    np.testing.assert_allclose(frame.cosine, expected, atol=0.05)
    assert mean_virtue_vice_cosine(x, items) == pytest.approx(expected.mean(), abs=0.05)


def test_centring_removes_the_common_component_that_makes_raw_cosines_near_one() -> None:
    items = planted_items()
    x, _ = geometry(items, valence=1.0, foundation=0.0, cell=0.0, mirror=True)
    assert mean_virtue_vice_cosine(x, items, raw=True) > 0.95
    assert mean_virtue_vice_cosine(x, items) < -0.95


def test_mean_cosine_skips_foundations_with_too_few_items() -> None:
    items = planted_items()
    x, _ = geometry(items, valence=1.0, foundation=0.0, cell=0.0, mirror=True)
    care_vice = ((items.foundation == "care") & (items.kind == "vice")).to_numpy()
    rows = ~care_vice | (np.cumsum(care_vice) <= 2)  # keep two care-vice items
    frame = virtue_vice_cosine(x, items, rows)
    assert frame.set_index("foundation").loc["care", "n_vice"] == 2
    kept = frame[frame.foundation != "care"].cosine.mean()
    assert mean_virtue_vice_cosine(x, items, rows, min_items=3) == pytest.approx(kept)
    assert mean_virtue_vice_cosine(x, items, rows, min_items=2) == pytest.approx(frame.cosine.mean())
    assert np.isnan(mean_virtue_vice_cosine(x, items, rows, min_items=100))


def test_noise_cosine_is_the_shared_neutral_mean_bias_not_zero() -> None:
    items = planted_items()
    x = np.random.default_rng(6).standard_normal((len(items), 4000))
    n_cell, n_neutral = N_CELL_LEMMAS * PER_LEMMA, N_NEUTRAL_LEMMAS * PER_LEMMA
    bias = (1 / n_neutral) / (1 / n_cell + 1 / n_neutral)
    assert mean_virtue_vice_cosine(x, items) == pytest.approx(bias, abs=0.03)
    assert abs(mean_virtue_vice_cosine(x, items, raw=True)) < 0.03
