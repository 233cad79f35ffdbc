"""valuescope.studies.indifference.item_labels: errors that name what is wrong with the items or X."""

from __future__ import annotations

import numpy as np
import pytest
from planted_geometry import planted_items

from valuescope.studies.indifference.diagnostic_settings import DiagnosticSettings
from valuescope.studies.indifference.geometry_diagnostics import diagnostics
from valuescope.studies.indifference.prototypes import prototypes, virtue_vice_cosine
from valuescope.studies.indifference.typicality import crossfit_typicality_spearman, typicality_spearman


def test_errors_name_what_is_wrong() -> None:
    items = planted_items(n_cell=2, n_neutral=2)
    x = np.random.default_rng(0).standard_normal((len(items), 4))
    with pytest.raises(ValueError, match=r"items lacks columns \['typicality', 'care_vice'\]"):
        diagnostics(x, items.drop(columns=["typicality", "care_vice"]))
    moral = (items.kind != "neutral").to_numpy()
    with pytest.raises(ValueError, match="no neutral items"):
        prototypes(x, items, moral)
    assert len(prototypes(x, items, moral, raw=True)) == 10
    with pytest.raises(ValueError, match="no neutral items"):
        virtue_vice_cosine(x, items, moral)
    with pytest.raises(ValueError, match="fit_rows hold no neutral items"):
        typicality_spearman(x, items, moral, ~moral)
    with pytest.raises(ValueError, match="items has 44 rows but X has 43"):
        diagnostics(x[:-1], items)
    with pytest.raises(ValueError, match="X must be 2-D"):
        diagnostics(x[:, 0], items)
    with pytest.raises(ValueError, match="rows must be a boolean mask"):
        diagnostics(x, items, np.flatnonzero(moral))
    with pytest.raises(ValueError, match="rows selects no items"):
        diagnostics(x, items, np.zeros(len(items), dtype=bool))
    with pytest.raises(ValueError, match=r"column 'kind' must hold only .* found \['good'\]"):
        diagnostics(x, items.assign(kind=items.kind.replace("virtue", "good")))
    with pytest.raises(ValueError, match=r"need a foundation in .* found \['harm'\]"):
        diagnostics(x, items.assign(foundation=items.foundation.replace("care", "harm")))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        diagnostics(bad, items)
    with pytest.raises(ValueError, match="measure must be"):
        crossfit_typicality_spearman(x, items, measure="dot")
    with pytest.raises(ValueError, match="alphas must be"):
        DiagnosticSettings(alphas=(0.0,))
