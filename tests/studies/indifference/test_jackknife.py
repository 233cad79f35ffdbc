"""valuescope.studies.indifference.jackknife: intervals over lemma blocks, for one model and for a change."""

from __future__ import annotations

import pytest
from planted_geometry import collapsed, geometry, planted_items

from valuescope.studies.indifference.diagnostic_settings import FAST_SETTINGS
from valuescope.studies.indifference.geometry_diagnostics import diagnostics
from valuescope.studies.indifference.jackknife import jackknife_diagnostics, paired_jackknife


def test_jackknife_intervals_contain_the_estimate_and_cover_a_noisy_truth() -> None:
    items = planted_items()
    x, _ = geometry(items)
    out = jackknife_diagnostics(x, items, n_blocks=8, settings=FAST_SETTINGS)
    full = diagnostics(x, items, settings=FAST_SETTINGS)
    for m, est in out.items():
        assert est.ci_low <= est.estimate <= est.ci_high
        assert est.estimate == pytest.approx(full[m])
        assert est.n == items.lemma.nunique() and est.p is None
    # weak signal: the full-data estimate is not dragged toward chance, and a second draw of the same
    # geometry lies inside the interval
    weak, _ = geometry(items, valence=0.05, foundation=0.02, cell=0.05)
    again, _ = geometry(items, seed=9, valence=0.05, foundation=0.02, cell=0.05)
    first = jackknife_diagnostics(weak, items, n_blocks=10, settings=FAST_SETTINGS)
    second = diagnostics(again, items, settings=FAST_SETTINGS)
    est = first["typicality_spearman"]
    assert est.ci_low <= second["typicality_spearman"] <= est.ci_high


def test_paired_jackknife_is_zero_for_no_change_and_significant_for_a_collapse() -> None:
    items = planted_items()
    before, _ = geometry(items)
    after, same = paired_jackknife(before, before.copy(), items, n_blocks=6, settings=FAST_SETTINGS)
    alone = jackknife_diagnostics(before, items, n_blocks=6, settings=FAST_SETTINGS)
    assert after == alone
    for est in same.values():
        assert (est.estimate, est.ci_low, est.ci_high, est.p) == (0.0, 0.0, 0.0, 1.0)
    _, out = paired_jackknife(before, collapsed(items), items, n_blocks=6, settings=FAST_SETTINGS)
    assert out["ari_valence"].ci_high < -0.5 and out["ari_valence"].p is not None
    assert out["ari_valence"].p < 0.01
