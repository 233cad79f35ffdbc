"""Honest selection: split halves of groups, a layer chosen on one half and reported on the other, grouped
cross-validation folds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from valuescope.stats.checks import check_groups, integer_codes


@dataclass(frozen=True)
class LayerChoice:
    """The layer picked on the selection half, the two row masks, and every layer's selection score."""

    layer: int
    select: np.ndarray
    report: np.ndarray
    scores: dict[int, float]


def _group_ids(groups: np.ndarray) -> tuple[np.ndarray, int]:
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise ValueError(f"groups must be 1-D (one id per row), got shape {arr.shape}")
    return integer_codes(check_groups(arr, len(arr), "groups"))


def split_half(groups: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random split of whole groups into two halves: boolean row masks (select, report).

    The selection half gets floor(G/2) groups and the report half the rest. ValueError if < 2 groups.
    """
    g_codes, n_groups = _group_ids(groups)
    if n_groups < 2:
        raise ValueError(f"groups has {n_groups} distinct group(s); split_half needs at least 2")
    perm = np.random.default_rng(seed).permutation(n_groups)
    chosen = np.zeros(n_groups, dtype=bool)
    chosen[perm[: n_groups // 2]] = True
    select = chosen[g_codes]
    return select, ~select


def choose_layer(
    score: Callable[[int, np.ndarray], float],
    layers: Sequence[int],
    groups: np.ndarray,
    *,
    seed: int = 0,
    higher_is_better: bool = True,
) -> LayerChoice:
    """Pick the best layer on a random half of the groups; report on the other half (``choice.report``).

    ``score(layer, row_mask)`` is called once per layer with the selection-half mask. Ties go to the
    earliest layer in ``layers``; NaN scores never win (all NaN raises ValueError).
    """
    layer_list = [int(layer) for layer in layers]
    if not layer_list:
        raise ValueError("layers is empty")
    if len(set(layer_list)) != len(layer_list):
        raise ValueError(f"layers has duplicates: {layer_list}")
    select, report = split_half(groups, seed=seed)
    scores = {layer: float(score(layer, select.copy())) for layer in layer_list}
    best: int | None = None
    for layer in layer_list:
        s = scores[layer]
        if np.isnan(s):
            continue
        if best is None or (s > scores[best] if higher_is_better else s < scores[best]):
            best = layer
    if best is None:
        raise ValueError("score returned NaN for every layer on the selection half")
    return LayerChoice(layer=best, select=select, report=report, scores=scores)


def grouped_folds(groups: np.ndarray, k: int, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k cross-validation folds of whole groups: (train_mask, test_mask) per fold.

    Groups are shuffled and dealt into k folds whose group counts differ by at most 1; every group is in
    exactly one test fold and never on both sides. Needs 2 <= k <= number of groups.
    """
    g_codes, n_groups = _group_ids(groups)
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k}")
    if k > n_groups:
        raise ValueError(f"k={k} folds but groups has only {n_groups} distinct groups")
    perm = np.random.default_rng(seed).permutation(n_groups)
    fold_of_group = np.empty(n_groups, dtype=np.intp)
    fold_of_group[perm] = np.arange(n_groups) % k
    fold_of_row = fold_of_group[g_codes]
    return [(fold_of_row != f, fold_of_row == f) for f in range(int(k))]
