"""Geometry steps: the moral and domain contrasts as directions in the residual stream (per read point)
and in sentence embeddings; cosines against a null of random directions and cross-domain probe transfer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.edit import controls as ctl
from valuescope.stats.metrics import metric
from valuescope.studies.entanglement.config import EntanglementConfig, stimuli_of
from valuescope.studies.entanglement.directions import cosine_vs_null, diff_of_means, transfer_auroc
from valuescope.studies.entanglement.outputs import REPAIR_READ_POINT
from valuescope.studies.protocol import Artifacts, UnitContext

if TYPE_CHECKING:
    pass


def _geometry(
    x: dict[str, np.ndarray], data: dict[str, pd.DataFrame], cfg: EntanglementConfig, seed: int
) -> dict[str, Any]:
    """Direction cosines and cross-domain transfer AUROCs for one representation. The cosines' null pairs
    random directions drawn from the covariance of the items (each domain centred on its own mean)."""
    moral, gram, econ = data["moral"], data["grammar"], data["economic"]
    y_moral = (moral["valence"] == "good").to_numpy()
    y_gram = (gram["version"] == "grammatical").to_numpy()
    y_econ = (econ["version"] == "good_deal").to_numpy()
    d_moral = diff_of_means(x["moral"], y_moral)
    d_gram = diff_of_means(x["grammar"], y_gram)
    d_econ = diff_of_means(x["economic"], y_econ)
    pooled = np.concatenate([v - v.mean(axis=0) for v in x.values()])
    null = ctl.covariance_cosine_null(pooled, cfg.n_null, np.random.default_rng(seed))
    out: dict[str, Any] = {}
    for name, d in (("grammar", d_gram), ("economic", d_econ)):
        cos, p = cosine_vs_null(d_moral, d, null)
        out[f"cos_moral_{name}"], out[f"cos_moral_{name}_p"] = cos, p
    kw = {"n_boot": cfg.n_boot, "seed": seed}
    tests = {
        "moral_to_grammar": (x["moral"], y_moral, x["grammar"], y_gram, gram["frame"]),
        "moral_to_economic": (x["moral"], y_moral, x["economic"], y_econ, econ["frame"]),
        "grammar_to_moral": (x["grammar"], y_gram, x["moral"], y_moral, moral["frame"]),
        "economic_to_moral": (x["economic"], y_econ, x["moral"], y_moral, moral["frame"]),
        "moral_to_valence_grammar": (
            x["moral"],
            y_moral,
            x["grammar"],
            (gram["valence"] == "good").to_numpy(),
            gram["frame"],
        ),
        "moral_to_valence_economic": (
            x["moral"],
            y_moral,
            x["economic"],
            (econ["valence"] == "good").to_numpy(),
            econ["frame"],
        ),
    }
    for name, (xa, ya, xb, yb, groups) in tests.items():
        out[name] = transfer_auroc(xa, ya, xb, yb, groups.to_numpy(), **kw)
    return out


def _geometry_row(read_point: int | str, g: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"read_point": read_point}
    for key, value in g.items():
        if isinstance(value, stats.Estimate):
            row[f"auroc_{key}"] = value.estimate
            row[f"auroc_{key}_low"] = value.ci_low
            row[f"auroc_{key}_high"] = value.ci_high
            row[f"auroc_{key}_p"] = value.p
        else:
            row[key] = value
    return row


def repair_read_point(
    cfg: EntanglementConfig,
    n_layers: int,
    moral_x: np.ndarray | None,
    y: np.ndarray | None,
    groups: np.ndarray | None,
    seed: int,
) -> int:
    """The read point of the moral direction by the config's rule (``best`` uses only moral-only items)."""
    rule = cfg.repair_read_point
    if isinstance(rule, int):
        if not 0 <= rule <= n_layers:
            raise ValueError(f"entanglement.repair_read_point={rule} is outside 0..{n_layers}")
        return rule
    if rule == "middle" or moral_x is None or y is None or groups is None:
        return n_layers // 2
    scores = []
    folds = stats.grouped_folds(groups, min(5, len(np.unique(groups))), seed=seed)
    for j in range(1, moral_x.shape[1]):
        preds = np.zeros(len(y))
        for train, test in folds:
            d = diff_of_means(moral_x[train, j], y[train])
            preds[test] = moral_x[test, j] @ d
        scores.append(stats.auroc(preds, y))
    return 1 + int(np.nanargmax(scores))


def residual_step(ctx: UnitContext[EntanglementConfig]) -> Artifacts:
    cfg = ctx.config
    lm = ctx.local
    data = stimuli_of(ctx)
    read_points = list(range(lm.n_layers + 1))
    acts = {
        k: lm.residuals(list(data[k]["text"]), layers=read_points, pool="mean", progress=ctx.progress)
        .double()
        .numpy()
        for k in ("moral", "grammar", "economic")
    }
    rows = []
    for j, rp in enumerate(read_points):
        g = _geometry({k: v[:, j] for k, v in acts.items()}, data, cfg, ctx.seed)
        rows.append(_geometry_row(rp, g))
    layers = pd.DataFrame(rows)
    for name in ("cos_moral_grammar", "cos_moral_economic"):
        layers[f"{name}_q"] = stats.fdr_bh(layers[f"{name}_p"].to_numpy())
    y = (data["moral"]["valence"] == "good").to_numpy()
    rp = repair_read_point(cfg, lm.n_layers, acts["moral"], y, data["moral"]["frame"].to_numpy(), ctx.seed)
    at = rows[rp]
    metrics = {}
    for key, label in (
        ("moral_to_valence_grammar", "moral_direction_auroc_grammar_items"),
        ("moral_to_valence_economic", "moral_direction_auroc_economic_items"),
        ("moral_to_grammar", "moral_to_grammar_transfer_auroc"),
        ("moral_to_economic", "moral_to_economic_transfer_auroc"),
    ):
        metrics[label] = metric(
            at[f"auroc_{key}"],
            at[f"auroc_{key}_low"],
            at[f"auroc_{key}_high"],
            p=at[f"auroc_{key}_p"],
            n=int(data["grammar" if "grammar" in key else "economic"]["frame"].nunique()),
            layer=rp,
            note="direction fit on moral-only items (or the domain contrast), AUROC on the other items",
        )
    for name in ("grammar", "economic"):
        q = float(layers[f"cos_moral_{name}_q"].min())
        metrics[f"n_layers_moral_{name}_cosine_significant"] = metric(
            int((layers[f"cos_moral_{name}_q"] < 0.05).sum()),
            n=len(read_points),
            note=f"read points where the moral and {name} directions' cosine beats a null of {cfg.n_null} "
            f"random direction pairs drawn from the items' covariance at FDR 5% (BH; smallest q {q:.3g})",
        )
    return Artifacts(tables={"layers": layers}, metrics=metrics, data={REPAIR_READ_POINT.name: rp})


def embedding_step(ctx: UnitContext[EntanglementConfig]) -> Artifacts:
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    cfg = ctx.config
    data = stimuli_of(ctx)
    x = {k: sentence_embeddings(list(data[k]["text"])) for k in ("moral", "grammar", "economic")}
    g = _geometry(x, data, cfg, ctx.seed)
    table = pd.DataFrame([_geometry_row("all-MiniLM-L6-v2", g)]).rename(columns={"read_point": "space"})
    metrics = {
        "embedding_moral_to_grammar_auroc": g["moral_to_grammar"].as_metric(
            note="all-MiniLM-L6-v2: moral direction (moral-only items) scoring grammatical vs ungrammatical"
        ),
        "embedding_moral_to_economic_auroc": g["moral_to_economic"].as_metric(
            note="all-MiniLM-L6-v2: moral direction scoring good vs bad deals"
        ),
    }
    return Artifacts(tables={"embeddings": table}, metrics=metrics)
