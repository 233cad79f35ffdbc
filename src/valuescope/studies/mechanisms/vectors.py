"""Steps 3-4 of ``mechanisms``: value vectors from the residual stream over each response's own
tokens (read without the framing), intrinsic against prompted, and their shared and unique axes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.edit import controls as ctl
from valuescope.models.gguf_cache import cache_root
from valuescope.stats.metrics import metric as make_metric
from valuescope.stats.metrics import missing
from valuescope.studies.mechanisms import analysis as mech
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.outputs import (
    INTRINSIC_ONLY,
    INTRINSIC_VECTORS,
    LABELS,
    POOLED_VECTORS,
    PROMPTED_ONLY,
    PROMPTED_VECTORS,
    READ_POINT,
    RESPONSES,
    SHARED_AXES,
)
from valuescope.studies.mechanisms.responses import render
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)


@dataclass
class ResponseReadout:
    """Residuals of every response (n, read points, d), its labels (n, 10) and bookkeeping."""

    x: np.ndarray
    labels: np.ndarray
    queries: np.ndarray
    condition: np.ndarray

    def rows(self, condition: str, mask: np.ndarray | None = None) -> np.ndarray:
        keep = self.condition == condition
        return keep if mask is None else keep & mask


def reading_item(lm: Any, query: str, response: str) -> tuple[str, str]:
    """(context, text) to read a response as the model would have produced it without any framing."""
    return render(lm, query, None), response if lm.instruct else " " + response


def read_responses(ctx: UnitContext[MechanismsConfig]) -> ResponseReadout:
    """Every response's residuals at every read point, mean-pooled over its own tokens (cached on disk,
    so later steps read them again for free)."""
    lm = ctx.local
    responses, labels = ctx.read(RESPONSES), ctx.read(LABELS)
    items = [reading_item(lm, q, r) for q, r in zip(responses["query"], responses["response"], strict=True)]
    x = lm.residuals(
        items,
        layers=list(range(lm.n_layers + 1)),
        pool="mean",
        progress=ctx.progress,
        store=cache_root() / "residuals",
    )
    return ResponseReadout(
        x=x.double().numpy(),
        labels=labels[[f"label_{v}" for v in VALUES]].to_numpy(dtype=bool),
        queries=responses["query_id"].astype(str).to_numpy(),
        condition=responses["condition"].to_numpy(),
    )


def fit(x: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Value vectors (10, d), or None when some value has no positive or no negative row here."""
    v = fit_each(x, labels)
    return None if np.isnan(v).any() else v


def fit_each(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Value vectors (10, d), a NaN row for each value without both positive and negative rows here."""
    return mech.value_vectors(x, labels, VALUES, missing="nan")


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a[v], b[v]) per row; NaN where either row is NaN."""
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def _cv_auroc(x: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """Mean over values of the 2-fold (grouped) AUROC of projections on held-out value vectors."""
    out = []
    if len(np.unique(groups)) < 2:
        return float("nan")
    for train, test in stats.grouped_folds(groups, 2, seed=seed):
        v = fit_each(x[train], labels[train])
        for j in range(len(VALUES)):
            y = labels[test, j]
            if not np.isnan(v[j]).any() and y.any() and (~y).any():
                out.append(stats.auroc(x[test] @ v[j], y))
    return float(np.mean(out)) if out else float("nan")


def choose_read_point(
    cfg: MechanismsConfig, r: ResponseReadout, n_layers: int, seed: int
) -> stats.LayerChoice:
    """The read point by the config's rule; ``best`` maximises cross-validated AUROC of both
    conditions' vectors on a random half of the queries (the other half reports)."""

    def score(rp: int, select: np.ndarray) -> float:
        values = []
        for condition in ("intrinsic", "prompted"):
            rows = r.rows(condition, select)
            values.append(_cv_auroc(r.x[rows, rp], r.labels[rows], r.queries[rows], seed))
        return _mean(np.array(values))

    rule = cfg.read_point
    layers = list(range(1, n_layers + 1))
    if isinstance(rule, int):
        if not 0 <= rule <= n_layers:
            raise ValueError(f"mechanisms.read_point={rule} is outside 0..{n_layers}")
        layers = [rule]
    elif rule == "middle":
        layers = [n_layers // 2]
    return stats.choose_layer(score, layers, r.queries, seed=seed)


def _pair(
    r: ResponseReadout, rp: int, idx: np.ndarray, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsic and prompted vectors fit on rows ``idx`` (NaN rows where a value cannot be fit)."""
    lab = (r.labels if labels is None else labels)[idx]
    sub_x, sub_c = r.x[idx, rp], r.condition[idx]
    return (
        fit_each(sub_x[sub_c == "intrinsic"], lab[sub_c == "intrinsic"]),
        fit_each(sub_x[sub_c == "prompted"], lab[sub_c == "prompted"]),
    )


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


@dataclass
class CrossFit:
    """Per value, averaged over random splits of the queries into halves A and B: the cosine of one
    condition's vector from A with the other's from B (``cosine``), each condition's vectors from A
    and B (``reliability_*``), and the mean cosine between different values across conditions."""

    cosine: np.ndarray
    reliability_intrinsic: np.ndarray
    reliability_prompted: np.ndarray
    cross_value: float

    @property
    def ceiling(self) -> np.ndarray:
        """sqrt(r_intrinsic * r_prompted): what the cosine reaches if both conditions share one vector."""
        return np.sqrt(np.clip(self.reliability_intrinsic, 0, 1) * np.clip(self.reliability_prompted, 0, 1))

    @property
    def disattenuated(self) -> np.ndarray:
        c = self.ceiling
        return np.where(c > 0.05, self.cosine / np.where(c > 0.05, c, 1.0), np.nan)


def _off_mean(a: np.ndarray, b: np.ndarray) -> float:
    """``mech.cross_value_cosine`` over the values fit in both (NaN if fewer than two)."""
    ok = ~(np.isnan(a).any(1) | np.isnan(b).any(1))
    return mech.cross_value_cosine(a[ok], b[ok]) if ok.sum() >= 2 else float("nan")


def cross_fit(
    r: ResponseReadout, rp: int, idx: np.ndarray, seed: int, n_splits: int, labels: np.ndarray | None = None
) -> CrossFit:
    """``CrossFit`` on rows ``idx``: intrinsic and prompted vectors never come from the same queries,
    so a query's topic cannot make them look alike (it cannot do so across halves either)."""
    cos, rel_i, rel_p, cross = [], [], [], []
    if len(np.unique(r.queries[idx])) < 2:
        nan = np.full(len(VALUES), np.nan)
        return CrossFit(nan, nan, nan, float("nan"))
    for s in range(n_splits):
        first, second = stats.split_half(r.queries[idx], seed=seed + s)
        ia, pa = _pair(r, rp, idx[first], labels)
        ib, pb = _pair(r, rp, idx[second], labels)
        cos.append((row_cosines(ia, pb) + row_cosines(ib, pa)) / 2)
        rel_i.append(row_cosines(ia, ib))
        rel_p.append(row_cosines(pa, pb))
        cross.append((_off_mean(ia, pb) + _off_mean(ib, pa)) / 2)
    with np.errstate(all="ignore"):
        return CrossFit(
            cosine=np.array([_mean(c) for c in np.array(cos).T]),
            reliability_intrinsic=np.array([_mean(c) for c in np.array(rel_i).T]),
            reliability_prompted=np.array([_mean(c) for c in np.array(rel_p).T]),
            cross_value=_mean(np.array(cross)),
        )


def _shuffled(r: ResponseReadout, rng: np.random.Generator) -> np.ndarray:
    """Labels with whole rows (each response keeps a label set) permuted among the responses of the same
    query and condition, so the null keeps the sampling unit: a query's label mix stays with its context."""
    out = r.labels.copy()
    cells = pd.Series(np.arange(len(r.queries))).groupby([r.queries, r.condition]).indices
    for rows in cells.values():
        out[rows] = r.labels[rng.permutation(rows)]
    return out


def vectors_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    """Choose the read point on half of the queries; on the other half, cross-fit intrinsic against prompted
    vectors with a CI over queries and a shuffled-label null; keep every condition's vectors and axes."""
    cfg = ctx.config
    lm = ctx.local
    r = read_responses(ctx)
    choice = choose_read_point(cfg, r, lm.n_layers, ctx.seed)
    rp, report = choice.layer, np.flatnonzero(choice.report)
    fit_all = cross_fit(r, rp, report, ctx.seed, cfg.n_splits)
    if not np.isfinite(fit_all.cosine).any():
        raise ValueError(
            "mechanisms: no value has positive and negative responses in both conditions in both halves "
            "of the report queries; raise n_queries or min_positive"
        )
    intervals = _bootstrap_cross_fit(r, rp, report, cfg, ctx.seed)
    null = _shuffled_label_null(r, rp, report, cfg, ctx.seed)
    p, null_text = _p_against_null(intervals["intrinsic_prompted_cosine"][0], null)
    n_q = len(np.unique(r.queries[report]))
    context = _cosine_context(cfg, rp, n_q, intervals, null_text, fit_all)
    return Artifacts(
        tables={
            "vector_cosines": _per_value_table(fit_all, null),
            "vector_layers": _layer_table(r, choice, lm.n_layers, ctx.seed, cfg.n_splits),
            "response_projections": response_projections(r, rp, ctx.seed),
        },
        tensors=_vector_tensors(r, lm.n_layers, rp),
        metrics=_cross_fit_metrics(intervals, p, n_q, rp, context),
        data={READ_POINT.name: rp},
    )


def response_projections(r: ResponseReadout, rp: int, seed: int) -> pd.DataFrame:
    """Per response: its query and condition, and its residual at ``rp`` projected on each value's pooled
    unit vector fit on the *other* half of the queries (2 folds by query), so a response never scores on
    a vector its own labels made; NaN where that half lacks a value's positives or negatives."""
    proj = np.full((len(r.queries), len(VALUES)), np.nan)
    x = r.x[:, rp]
    for train, test in stats.grouped_folds(r.queries, 2, seed=seed):
        v = fit_each(x[train], r.labels[train])
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            proj[test] = x[test] @ (v / norms).T
    table = pd.DataFrame({"query_id": r.queries, "condition": r.condition})
    for j, value in enumerate(VALUES):
        table[f"proj_{value}"] = proj[:, j]
    return table


@dataclass(frozen=True)
class CrossFitMetric:
    """A summary metric of ``CrossFit``: its statistic, which direction is better, and what it means. The
    headline metric also gets the p against shuffled labels and the step's context in its note."""

    statistic: Callable[[CrossFit], float]
    better: str | None
    note: str
    headline: bool = False


CROSS_FIT_METRICS = {
    "intrinsic_prompted_cosine": CrossFitMetric(
        lambda c: _mean(c.cosine),
        "higher",
        "mean over values of cos(intrinsic, prompted vector); CI over queries, p against shuffled labels; ",
        headline=True,
    ),
    "intrinsic_prompted_cosine_excess": CrossFitMetric(
        lambda c: _mean(c.cosine) - c.cross_value,
        "higher",
        "same-value cosine minus the mean cosine between different values' intrinsic and prompted "
        "vectors (the share not explained by a common value-laden-text axis)",
    ),
    "intrinsic_prompted_reliability_ceiling": CrossFitMetric(
        lambda c: _mean(c.ceiling),
        None,
        "the cosine if both conditions shared one vector: geometric mean of each condition's "
        "cosine between its vectors from the two query halves",
    ),
    "intrinsic_prompted_cosine_disattenuated": CrossFitMetric(
        lambda c: _mean(c.disattenuated),
        None,
        "cosine / reliability ceiling per value (values with a ceiling below 0.05 left out): "
        "1 = one shared vector, below 1 = each condition has a part of its own",
    ),
    "intrinsic_prompted_cross_value_cosine": CrossFitMetric(
        lambda c: c.cross_value,
        None,
        "mean cos(intrinsic v, prompted w) over v != w, across query halves; CI over queries",
    ),
}
"""The metrics of the ``vectors`` step, in the order they are reported."""

Interval = tuple[float, float, float]


def _bootstrap_cross_fit(
    r: ResponseReadout, rp: int, report: np.ndarray, cfg: MechanismsConfig, seed: int
) -> dict[str, Interval]:
    """Every ``CROSS_FIT_METRICS`` statistic with its CI over the report queries. Every statistic sees the
    same resamples (same seed), so each resample is fit once. NaN bounds when too many resamples leave a
    value unfit in some query half."""
    memo: dict[bytes, CrossFit] = {}

    def resampled(rows: np.ndarray) -> CrossFit:
        key = rows.tobytes()
        if key not in memo:
            memo[key] = cross_fit(r, rp, report[rows], seed, cfg.n_splits)
        return memo[key]

    def interval(f: Callable[[CrossFit], float]) -> Interval:
        try:
            return stats.bootstrap(
                lambda rows: f(resampled(rows)), len(report), groups=r.queries[report], n_boot=cfg.n_boot,
                seed=seed,
            )  # fmt: skip
        except ValueError:
            return f(resampled(np.arange(len(report)))), float("nan"), float("nan")

    return {name: interval(m.statistic) for name, m in CROSS_FIT_METRICS.items()}


def _shuffled_label_null(
    r: ResponseReadout, rp: int, report: np.ndarray, cfg: MechanismsConfig, seed: int
) -> np.ndarray:
    """Per-value cosines (n_perm, 10) of the cross fit with labels shuffled within query and condition."""
    rng = np.random.default_rng(seed)
    return np.array(
        [cross_fit(r, rp, report, seed, cfg.n_splits, _shuffled(r, rng)).cosine for _ in range(cfg.n_perm)]
    )


def _p_against_null(estimate: float, null: np.ndarray) -> tuple[float | None, str]:
    """p of the mean cosine against the shuffled-label fits' mean cosines, and the null in words (None
    when no shuffled fit succeeded, too few did, or their means have no spread)."""
    null_mean = np.array([_mean(n) for n in null])
    null_mean = null_mean[np.isfinite(null_mean)]
    if len(null_mean) == 0:
        return None, "no shuffled-label fit succeeded, so no p"
    spread = stats.summarize_null(null_mean)
    text = f"shuffled-label null (within query and condition) {spread.describe(2)}"
    if len(null_mean) < ctl.MIN_DRAWS or spread.high - spread.low <= 0 or not np.isfinite(estimate):
        return None, text + ": too few draws or no spread, so no p"
    return stats.tie_p(estimate, null_mean, alternative="greater"), text


def _cosine_context(
    cfg: MechanismsConfig, rp: int, n_q: int, intervals: dict[str, Interval], null_text: str, fit: CrossFit
) -> str:
    """How the cosine was read, its baselines and null, and the values left out, for its note."""
    ceiling = intervals["intrinsic_prompted_reliability_ceiling"][0]
    cross = intervals["intrinsic_prompted_cross_value_cosine"][0]
    small = cfg.small_cell(n_q, "report-half queries")
    context = (
        f"read point {rp} (chosen on the other half of the queries); intrinsic and prompted vectors from "
        f"disjoint halves of the report queries ({cfg.n_splits} random splits); reliability ceiling "
        f"{ceiling:.2f}, cross-value baseline {cross:.2f}, {null_text}" + (f"; {small}" if small else "")
    )
    fitted = np.isfinite(fit.cosine)
    unfit = [v for v, ok in zip(VALUES, fitted, strict=True) if not ok]
    if unfit:
        context += (
            f"; mean over {int(fitted.sum())} of 10 values ({', '.join(unfit)}: too few positive answers in "
            "a query half)"
        )
    return context


def _cross_fit_metrics(
    intervals: dict[str, Interval], p: float | None, n_q: int, rp: int, context: str
) -> dict[str, dict[str, Any]]:
    """``CROSS_FIT_METRICS`` as summary metrics; missing where the estimate or its CI is not finite."""
    out = {}
    for name, m in CROSS_FIT_METRICS.items():
        est, lo, hi = intervals[name]
        if not (np.isfinite(est) and np.isfinite(lo) and np.isfinite(hi)):
            out[name] = missing(
                "too few positive responses per query half to estimate this (or its CI); raise n_queries",
                n=n_q,
            )
        else:
            out[name] = make_metric(
                est, lo, hi, p=p if m.headline else None, n=n_q, layer=rp, better=m.better,
                note=m.note + context if m.headline else m.note,
            )  # fmt: skip
    return out


def _per_value_table(fit: CrossFit, null: np.ndarray) -> pd.DataFrame:
    """Per value: the cosine, each condition's reliability and the ceiling, the shuffled-label range, and
    p and FDR q against it (NaN for values not fit)."""
    fitted = np.isfinite(fit.cosine)
    p_value = np.full(len(VALUES), np.nan)
    p_value[fitted] = (1 + (null[:, fitted] >= fit.cosine[fitted]).sum(0)) / (1 + len(null))
    table = pd.DataFrame(
        {
            "value": VALUES,
            "cosine": fit.cosine,
            "reliability_intrinsic": fit.reliability_intrinsic,
            "reliability_prompted": fit.reliability_prompted,
            "reliability_ceiling": fit.ceiling,
            "null_low": [_quantile(c, 0.025) for c in null.T],
            "null_high": [_quantile(c, 0.975) for c in null.T],
            "p": p_value,
        }
    )
    table["q"] = np.nan
    table.loc[fitted, "q"] = stats.fdr_bh(p_value[fitted])
    return table


def _quantile(x: np.ndarray, q: float) -> float:
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if len(x) else float("nan")


def _layer_table(
    r: ResponseReadout, choice: stats.LayerChoice, n_layers: int, seed: int, k: int
) -> pd.DataFrame:
    """Per read point: its selection AUROC, and the cosine and ceiling on the report half."""
    rows = []
    report = np.flatnonzero(choice.report)
    for rp in range(n_layers + 1):
        c = cross_fit(r, rp, report, seed, k)
        rows.append(
            {
                "read_point": rp,
                "selection_auroc": choice.scores.get(rp),
                "cosine_report_half": _mean(c.cosine),
                "ceiling_report_half": _mean(c.ceiling),
                "chosen": rp == choice.layer,
            }
        )
    return pd.DataFrame(rows)


def _vector_tensors(r: ResponseReadout, n_layers: int, rp: int) -> dict[str, torch.Tensor]:
    """Every condition's vectors at every read point (``_all_vectors``), and at read point ``rp`` the
    shared and difference axes of the intrinsic and prompted vectors and each orthogonalised against the
    other."""
    tensors = _all_vectors(r, n_layers)
    vi = tensors[INTRINSIC_VECTORS.name][:, rp].double().numpy()
    vp = tensors[PROMPTED_VECTORS.name][:, rp].double().numpy()
    shared, difference = mech.shared_and_difference_axes(vi, vp)
    return tensors | {
        SHARED_AXES.name: torch.from_numpy(shared).float(),
        "difference_axes": torch.from_numpy(difference).float(),
        INTRINSIC_ONLY.name: torch.from_numpy(mech.orthogonalise(vi, vp)).float(),
        PROMPTED_ONLY.name: torch.from_numpy(mech.orthogonalise(vp, vi)).float(),
    }


def _all_vectors(r: ResponseReadout, n_layers: int) -> dict[str, torch.Tensor]:
    """Vectors fit on every response, at every read point: (10, read points, d) per condition and pooled."""
    out = {}
    for name, rows in (
        (INTRINSIC_VECTORS.name, r.condition == "intrinsic"),
        (PROMPTED_VECTORS.name, r.condition == "prompted"),
        (POOLED_VECTORS.name, np.ones(len(r.condition), dtype=bool)),
    ):
        per_rp = [mech.value_vectors(r.x[rows, rp], r.labels[rows], VALUES) for rp in range(n_layers + 1)]
        out[name] = torch.from_numpy(np.stack(per_rp, axis=1)).float()
    return out
