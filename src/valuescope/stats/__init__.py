"""Shared statistics: grouped bootstrap and permutation, paired tests, FDR, honest layer choice.

Conventions every study follows:

- Resample the unit that was sampled. Rows that share a unit (a base sentence with all its versions, a
  lemma with its inflections, a query with its responses) share a group id, and the bootstrap and the
  permutation tests move whole groups; ``groups=None`` means every row is its own unit.
- A metric reported at a "best" layer is chosen on a random half of the groups (``choose_layer``) and
  its estimate, CI and any after-edit value are computed on the other half at that same layer.
- Many layers or values tested at once: Benjamini-Hochberg FDR (``fdr_bh``).
- Models or conditions compared on the same items: paired tests (``paired_difference``, or
  ``permutation_p`` with labels that vary within groups).

All randomness comes from ``np.random.default_rng(seed)``; results are deterministic for a given seed."""

from __future__ import annotations

from valuescope.stats.checks import (
    check_count,
    check_groups,
    constant_within,
    integer_codes,
)
from valuescope.stats.effects import auroc, auroc_columns, auroc_weighted, cohens_d
from valuescope.stats.estimate import Alternative, Estimate, NullSummary, summarize_null
from valuescope.stats.fdr import fdr_bh
from valuescope.stats.resampling import (
    bootstrap,
    bootstrap_auroc,
    bootstrap_counts,
    paired_difference,
    permutation_p,
    tie_p,
)
from valuescope.stats.splits import LayerChoice, choose_layer, grouped_folds, split_half

__all__ = [
    "Alternative",
    "Estimate",
    "LayerChoice",
    "NullSummary",
    "auroc",
    "auroc_columns",
    "auroc_weighted",
    "bootstrap",
    "bootstrap_auroc",
    "bootstrap_counts",
    "check_count",
    "check_groups",
    "choose_layer",
    "cohens_d",
    "constant_within",
    "fdr_bh",
    "grouped_folds",
    "integer_codes",
    "paired_difference",
    "permutation_p",
    "split_half",
    "summarize_null",
    "tie_p",
]
