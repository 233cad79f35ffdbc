"""The ``agreement`` step of ``atlas``: do a model's words and internals name the same values for the
same queries?

Traits are the ten Schwartz values; the items are the mechanisms study's everyday queries (its unprompted
answers), and every method scores each query on all ten values:

- ``self_rating``: the model rates, in the situation of the query, a first-person statement of each
  value from 1 to 6 (``instruments.self_rating.SITUATED_RATING``; any model, API ones too);
- ``labeller``: the validated labeller's score of the model's own answers to the query (mean over its
  samples), from the mechanisms study's labels;
- ``residuals``: the answers' residuals at the read point projected on each value's vector fit on the
  other half of the queries (local models only; the mechanisms study's ``response_projections``).

The lexicon study's projective profile scores ValueLex's six subdimensions, which map onto no single
Schwartz value, so it is not a method here (the step says so in its notes). The multi-trait multi-method
matrix and Campbell and Fiske's criteria come with bootstrap CIs over queries and a null that shuffles
value labels within each method (``mtmm``). The step also hands on the model's value profile and the
cosines of its value vectors for the cross-model page.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.instruments.self_rating import OPTIONS, SITUATED_RATING
from valuescope.stats.metrics import metric, missing
from valuescope.studies.atlas.config import AtlasConfig
from valuescope.studies.atlas.mtmm import MtmmResult, mtmm_summary, mtmm_table
from valuescope.studies.atlas.outputs import (
    LABELLER_INSTRUMENT,
    LABELS,
    POOLED_VECTORS,
    PROJECTIONS,
    READ_POINT,
    RESPONSES,
    SELF_RATINGS,
    VALUE_GEOMETRY,
)
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
LEXICON_NOTE = (
    "the lexicon study's projective profile scores ValueLex's six subdimensions, which map onto no single "
    "Schwartz value: not a method here"
)
MTMM_METRICS = ("convergent", "discriminant", "criteria_share", "convergent_minus_discriminant")


def agreement_step(ctx: UnitContext[AtlasConfig]) -> Artifacts:
    cfg = ctx.config
    labels = ctx.read(LABELS)
    intrinsic = labels[labels["condition"] == "intrinsic"]
    responses = ctx.read(RESPONSES)
    queries = responses[responses["condition"] == "intrinsic"].drop_duplicates("query_id")
    if cfg.mtmm_queries is not None:
        queries = queries.head(cfg.mtmm_queries)
    qids = queries["query_id"].astype(str).tolist()
    rated, partial = situated_ratings(ctx, queries)
    methods: dict[str, pd.DataFrame] = {
        "self_rating": rated,
        "labeller": per_query(intrinsic, "score_", qids),
    }
    skipped = {"lexicon": LEXICON_NOTE}
    if partial is not None:
        if rated.isna().all().all():
            del methods["self_rating"]
        skipped["self_rating"] = partial
    if ctx.has(PROJECTIONS):
        projections = ctx.read(PROJECTIONS)
        methods["residuals"] = per_query(projections[projections["condition"] == "intrinsic"], "proj_", qids)
    else:
        skipped["residuals"] = "needs the model's internals (an API model has none)"
    tables: dict[str, pd.DataFrame] = {
        "mtmm_scores": pd.concat(
            [m.rename_axis("query_id").reset_index().assign(method=k) for k, m in methods.items()],
            ignore_index=True,
        ),
        "methods": pd.DataFrame(
            [{"method": k, "used": True, "note": skipped.get(k, "")} for k in methods]
            + [{"method": k, "used": False, "note": why} for k, why in skipped.items() if k not in methods]
        ),
        "value_profile": value_profile(ctx.read(SELF_RATINGS), cfg, ctx.seed),
    }
    if ctx.has(POOLED_VECTORS):
        tables[VALUE_GEOMETRY.name] = value_geometry(ctx.read(POOLED_VECTORS), ctx.read(READ_POINT))
    metrics, result = _mtmm_metrics(methods, skipped, cfg, ctx.seed)
    if result is not None:
        tables["mtmm_criteria"] = mtmm_table(result)
        tables["mtmm_convergent"] = result.convergent_table
        tables["mtmm_matrix"] = _flat(result.matrix)
    return Artifacts(
        tables=tables, metrics=metrics, data={"labeller_instrument": ctx.get(LABELLER_INSTRUMENT, None)}
    )


def situated_ratings(ctx: UnitContext[AtlasConfig], queries: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Per query (rows, by id) and value (columns): the mean expected rating of the value's first
    ``mtmm_statements`` forward-keyed statements, rated in the situation of the query; and a note when
    some ratings were dropped.

    A served model shows only its top log-probabilities: a rating that saw some of the six options and
    not others has an expected value pulled towards the ones it saw, so it is NaN here, and the note
    says how many were dropped."""
    rated = ctx.read(SELF_RATINGS)
    own = rated[(rated["questionnaire"] == "valuescope") & ~rated["reverse"].astype(bool)]
    statements = own.groupby("value", sort=False).head(ctx.config.mtmm_statements)
    rows = [
        (str(qid), value, SITUATED_RATING.format(query=str(q).strip(), text=str(t).strip()))
        for qid, q in zip(queries["query_id"], queries["query"], strict=True)
        for value, t in zip(statements["value"], statements["text"], strict=True)
    ]
    table = pd.DataFrame(rows, columns=["query_id", "value", "prompt"])
    ratings = ctx.lm.rate(list(table["prompt"]), OPTIONS, progress=ctx.progress)
    table["rating"] = ratings["expected"].to_numpy(dtype=float)
    note = None
    if "n_missing_options" in ratings.columns:
        short = ratings["n_missing_options"].to_numpy() > 0
        table.loc[short, "rating"] = np.nan
        if short.any():
            note = (
                f"{int(short.sum())} of {len(short)} situated ratings were dropped: the server's top "
                f"log-probabilities showed only some of the {len(OPTIONS)} options (mean mass "
                f"{float(ratings['mass'].mean()):.2f}), so their expected rating is biased"
            )
    wide = table.pivot_table(index="query_id", columns="value", values="rating", aggfunc="mean", dropna=False)
    wide = wide.reindex(index=[str(q) for q in queries["query_id"]], columns=VALUES).astype(float)
    return wide, note


def per_query(rows: pd.DataFrame, prefix: str, qids: list[str]) -> pd.DataFrame:
    """The mean of columns ``<prefix><value>`` per query, as queries (``qids``) x values."""
    frame = rows.assign(query_id=rows["query_id"].astype(str))[["query_id", *(prefix + v for v in VALUES)]]
    means = frame.groupby("query_id").mean()
    means.columns = VALUES
    return means.reindex(qids).astype(float)


def value_profile(rated: pd.DataFrame, cfg: AtlasConfig, seed: int) -> pd.DataFrame:
    """Per value: the mean self-rating of its statements (unsteered, out of context), with a bootstrap CI
    over statements. Ratings that saw only some options (a served model's top log-probabilities) are
    left out, as in the agreement matrix; ``n`` counts the rest."""
    own = rated[rated["questionnaire"] == "valuescope"]
    if "n_missing_options" in own.columns:
        own = own[own["n_missing_options"] == 0]
    rows = []
    for value in VALUES:
        x = own.loc[own["value"] == value, "expected"].to_numpy(dtype=float)
        if len(x) == 0:
            rows.append({"value": value, "rating": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0})
            continue
        est, lo, hi = stats.bootstrap(_mean_of(x), len(x), n_boot=cfg.n_boot, seed=seed)
        rows.append({"value": value, "rating": est, "ci_low": lo, "ci_high": hi, "n": len(x)})
    return pd.DataFrame(rows)


def _mean_of(x: np.ndarray) -> Any:
    return lambda i: float(x[i].mean())


def value_geometry(pooled: Any, rp: int) -> pd.DataFrame:
    """The cosines of the ten pooled value vectors at read point ``rp``, values as rows and columns."""
    v = pooled[:, rp].double().numpy()
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return pd.DataFrame(v @ v.T, index=pd.Index(VALUES, name="value"), columns=VALUES).reset_index()


def _flat(matrix: pd.DataFrame) -> pd.DataFrame:
    long = matrix.stack(level=[0, 1], future_stack=True)
    long.index.names = ["method_a", "value_a", "method_b", "value_b"]
    return pd.DataFrame({"r": long}).reset_index()


def _mtmm_metrics(
    methods: dict[str, pd.DataFrame], skipped: dict[str, str], cfg: AtlasConfig, seed: int
) -> tuple[dict[str, dict[str, Any]], MtmmResult | None]:
    names = [f"mtmm_{c}" for c in MTMM_METRICS]
    told = "; ".join(f"{k}: {why}" for k, why in skipped.items())
    try:
        result = mtmm_summary(methods, n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=seed)
    except ValueError as error:
        used = ", ".join(methods)
        return {n: missing(f"not computable: {error} (methods {used}; {told})") for n in names}, None
    base = (
        f"{result.n_items} queries ({result.n_dropped} dropped for a missing score), methods "
        f"{', '.join(result.methods)}; CI over queries; p against value labels shuffled within method "
        f"({cfg.n_perm} draws)"
    )
    out: dict[str, dict[str, Any]] = {}
    for c, name in zip(MTMM_METRICS, names, strict=True):
        e = getattr(result, c)
        null = result.null_medians.get(c)
        note = base + (f", null median {null:.3f}" if null is not None and np.isfinite(null) else "")
        if result.constant_columns:
            note += (
                f"; constant (no correlation): {', '.join(f'{m}/{t}' for m, t in result.constant_columns)}"
            )
        out[name] = metric(e.estimate, e.ci_low, e.ci_high, p=e.p, n=e.n, note=f"{note}; {told}")
    return out, result
