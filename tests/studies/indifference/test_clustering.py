"""valuescope.studies.indifference.clustering on planted geometries: k-means follows the larger separation."""

from __future__ import annotations

from planted_geometry import geometry, planted_items

from valuescope.studies.indifference.clustering import ari_foundation, ari_valence
from valuescope.studies.indifference.ridge_probe import probe_r2


def test_foundation_dominated_geometry_recovers_foundations() -> None:
    items = planted_items()
    x, _ = geometry(items, valence=0.3, foundation=1.0)
    assert ari_foundation(x, items) > 0.95
    assert probe_r2(x, items) > 0.9
    # k-means splits on the larger separation: here that is the foundation, not the valence
    assert ari_valence(x, items) < 0.3
