"""The direction step: a good-vs-bad direction per read point with pair-grouped cross-validated accuracy,
FDR across read points, and the read point chosen on one half of the pairs and reported on the other."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.stats.metrics import metric
from valuescope.studies.protocol import (
    Artifacts,
    UnitContext,
)
from valuescope.studies.readout_check.config import Metrics, ReadoutCheckConfig, load_pairs
from valuescope.studies.readout_check.outputs import DIRECTION, LAYER, REPORT_PAIRS
from valuescope.studies.readout_check.ratings import mean_at

Folds = list[tuple[np.ndarray, np.ndarray]]

Correctness = Callable[[np.ndarray], np.ndarray]
"""Which rows a classifier gets right under given labels (permutation tests pass shuffled ones)."""


def _fit(x: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, float]:
    """Difference-of-means direction and the midpoint threshold along it."""
    d = x[good].mean(0) - x[~good].mean(0)
    mid = (x[good].mean(0) + x[~good].mean(0)) / 2
    return d, float(mid @ d)


def _correct(x: np.ndarray, good: np.ndarray, direction: np.ndarray, threshold: float) -> np.ndarray:
    return ((x @ direction) > threshold) == good


def _cv_correct(x: np.ndarray, good: np.ndarray, folds: Folds) -> np.ndarray:
    out = np.zeros(len(good), dtype=bool)
    for train, test in folds:
        if good[train].all() or not good[train].any():
            out[test] = False
            continue
        d, t = _fit(x[train], good[train])
        out[test] = _correct(x[test], good[test], d, t)
    return out


def direction_step(ctx: UnitContext[ReadoutCheckConfig]) -> Artifacts:
    """Per read point, the pair-grouped cross-validated accuracy of a good-vs-bad direction (FDR across read
    points); the best read point chosen on half the pairs, its direction fit there and scored on the rest."""
    cfg, lm = ctx.config, ctx.local
    pairs = load_pairs(ctx.data.use(cfg.stimuli) if cfg.stimuli else None, cfg.n_pairs)
    texts = list(pairs["good"]) + list(pairs["bad"])
    groups = np.array(list(pairs["pair"]) * 2)
    good = np.array([True] * len(pairs) + [False] * len(pairs))
    read_points = list(range(lm.n_layers + 1))
    acts = lm.residuals(texts, layers=read_points, pool="mean", progress=ctx.progress).double().numpy()
    folds = stats.grouped_folds(groups, min(cfg.folds, len(pairs)), seed=ctx.seed)
    layers = _layer_accuracies(acts, good, groups, folds, cfg, ctx.seed)
    choice = _choose_read_point(acts, good, groups, cfg, ctx.seed)
    rp = choice.layer
    d, t = _fit(acts[choice.select][:, rp], good[choice.select])
    xr, gr, grp = acts[choice.report][:, rp], good[choice.report], groups[choice.report]
    acc, lo, hi, p = _accuracy_test(partial(_correct, xr, direction=d, threshold=t), gr, grp, cfg, ctx.seed)
    n_report = len(np.unique(grp))
    small = cfg.small_cell(n_report, "held-out pairs")
    best = float(layers["accuracy"].max())
    metrics: Metrics = {
        "direction_accuracy": metric(
            acc, lo, hi, p=p, n=n_report, layer=rp, better="higher",
            note="good-vs-bad direction: read point chosen on half the pairs, accuracy on the other half"
            + (f"; {small}" if small else ""),
        ),
        "n_layers_significant": metric(
            int((layers["q"] < 0.05).sum()), n=len(read_points),
            note=f"read points above chance at FDR 5% (BH); max cross-validated accuracy {best:.3f}",
        ),
    }  # fmt: skip
    unit = torch.from_numpy(d / np.linalg.norm(d)).float()
    data = {LAYER.name: rp, REPORT_PAIRS.name: sorted({str(g) for g in grp}), "threshold": t}
    return Artifacts(tables={"layers": layers}, tensors={DIRECTION.name: unit}, metrics=metrics, data=data)


def _layer_accuracies(
    acts: np.ndarray, good: np.ndarray, groups: np.ndarray, folds: Folds, cfg: ReadoutCheckConfig, seed: int
) -> pd.DataFrame:
    """Per read point of ``acts`` (texts, read points, d): the cross-validated accuracy of the good-vs-bad
    direction with its CI and p, and BH q across read points."""
    rows = []
    for rp in range(acts.shape[1]):
        acc, lo, hi, p = _accuracy_test(
            partial(_cv_correct, acts[:, rp], folds=folds), good, groups, cfg, seed
        )
        rows.append({"read_point": rp, "accuracy": acc, "ci_low": lo, "ci_high": hi, "p": p})
    layers = pd.DataFrame(rows)
    layers["q"] = stats.fdr_bh(layers["p"].to_numpy())
    return layers


def _accuracy_test(
    correct_under: Correctness, good: np.ndarray, groups: np.ndarray, cfg: ReadoutCheckConfig, seed: int
) -> tuple[float, float, float, float]:
    """The share of rows classified correctly under the labels ``good``, with its pair-bootstrap CI, and its
    permutation p (labels shuffled between whole pairs, every time classified afresh)."""
    correct = correct_under(good)
    acc, lo, hi = stats.bootstrap(mean_at(correct), len(good), groups=groups, n_boot=cfg.n_boot, seed=seed)
    p = stats.permutation_p(
        lambda labels: float(correct_under(labels).mean()),
        good,
        groups=groups,
        n_perm=cfg.n_perm,
        seed=seed,
        alternative="greater",
    )
    return acc, lo, hi, p


def _choose_read_point(
    acts: np.ndarray, good: np.ndarray, groups: np.ndarray, cfg: ReadoutCheckConfig, seed: int
) -> stats.LayerChoice:
    """The read point after the embeddings with the best cross-validated accuracy on a random half of the
    pairs (the other half is kept for the report)."""

    def score(rp: int, mask: np.ndarray) -> float:
        sub = stats.grouped_folds(groups[mask], min(cfg.folds, len(np.unique(groups[mask]))), seed=seed)
        return float(_cv_correct(acts[mask][:, rp], good[mask], sub).mean())

    return stats.choose_layer(score, list(range(1, acts.shape[1])), groups, seed=seed)
