"""The ``diversity`` step of ``mechanisms``: how varied the model's answers are when it is steered with
each value's intrinsic or prompted vector.

Method: held-out queries (those after the first ``n_queries``, else the first ones) are answered
unsteered and under every steered value's intrinsic and prompted vector, at the alpha the ``steering``
step matched. Each set of answers gets its Distinct-2 (unique word bigrams over all bigrams) and its
embedding diversity (mean pairwise cosine distance of sentence embeddings); the two kinds of vector are
compared paired over values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope import stats
from valuescope.data.queries import load_queries
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.stats.metrics import metric, missing
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.outputs import ALPHAS, READ_POINT, STEERED_VALUES
from valuescope.studies.mechanisms.responses import STOP, render
from valuescope.studies.mechanisms.self_ratings import mean_of
from valuescope.studies.mechanisms.steering_edits import steering_vectors
from valuescope.studies.mechanisms.steering_effects import distinct_n, embedding_diversity
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
DIVERSITY_KINDS = ("intrinsic", "prompted")
MEASURES = (
    ("distinct2", "Distinct-2 (unique word bigrams / all bigrams)"),
    ("embedding_diversity", "mean pairwise cosine distance of all-MiniLM-L6-v2 embeddings"),
)
"""Each diversity measure and how a metric's note names it."""


def diversity_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    cfg = ctx.config
    lm = ctx.local
    rp = ctx.read(READ_POINT)
    alphas = ctx.read(ALPHAS)
    steered = ctx.get(STEERED_VALUES, VALUES)
    queries = load_queries(str(ctx.data.use(cfg.queries)) if cfg.queries else None)
    fresh = queries.iloc[cfg.n_queries : cfg.n_queries + cfg.diversity_queries]
    held_out = len(fresh) == cfg.diversity_queries
    chosen = fresh if held_out else queries.head(cfg.diversity_queries)
    prompts = [render(lm, q, None) for q in chosen["query"]]
    gen_kw: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "seed": ctx.seed,
        "stop": None if lm.instruct else STOP,
        "chat": False,
        "progress": False,
    }
    texts = _steered_answers(lm, prompts, steering_vectors(ctx), alphas, steered, rp, gen_kw)
    records = _answer_records(texts, chosen, alphas, steered)
    sets = _diversity_per_set(pd.DataFrame(records), texts)
    unsteered = sets[sets["kind"] == "none"].iloc[0]
    note_end = "" if held_out else "; the queries were also used to fit the vectors"
    metrics: dict[str, dict[str, Any]] = {}
    for measure, label in MEASURES:
        by_kind = {
            k: sets[sets["kind"] == k].set_index("value")[measure].reindex(steered).to_numpy()
            for k in DIVERSITY_KINDS
        }
        for kind, x in by_kind.items():
            note = (
                f"{label} of the {len(chosen)} answers per value steered with its {kind} vector at "
                "matched damage, "
                f"mean over values (CI over values); unsteered answers {unsteered[measure]:.3f}" + note_end
            )
            metrics[f"{measure}_{kind}"] = _mean_over_values(x, kind, note, cfg, rp, ctx.seed)
        metrics |= _intrinsic_minus_prompted(measure, by_kind, cfg, rp, ctx.seed)
    return Artifacts(
        tables={"diversity": sets},
        generations={"steered_generations": records},
        metrics=metrics,
    )


def _steered_answers(
    lm: Any,
    prompts: list[str],
    vectors: dict[str, np.ndarray],
    alphas: dict[str, list[float]],
    steered: list[str],
    read_point: int,
    gen_kw: dict[str, Any],
) -> dict[tuple[str, str], list[str]]:
    """The answers to ``prompts`` unsteered (kind ``none``) and under each steered value's vector of each
    kind, by (kind, value)."""
    texts: dict[tuple[str, str], list[str]] = {
        ("none", ""): [t.strip() for t in lm.generate(prompts, **gen_kw)]
    }
    rows_of = [VALUES.index(value) for value in steered]
    n = len(prompts)
    for kind in DIVERSITY_KINDS:
        # every steered value's vector in one batched generation: prompt block r is steered with the
        # r-th steered value
        each = torch.from_numpy(np.repeat(vectors[kind][rows_of], n, axis=0)).float()
        with lm.steer_each(each, [read_point], alphas=np.repeat(alphas[kind], n).tolist()):
            outs = [t.strip() for t in lm.generate(prompts * len(steered), **gen_kw)]
        for r, value in enumerate(steered):
            texts[(kind, value)] = outs[r * n : (r + 1) * n]
    return texts


def _answer_records(
    texts: dict[tuple[str, str], list[str]],
    chosen: pd.DataFrame,
    alphas: dict[str, list[float]],
    steered: list[str],
) -> list[dict[str, Any]]:
    """One record per answer: kind, steered value, query, answer and alpha."""
    return [
        {
            "kind": kind,
            "value": value,
            "query_id": qid,
            "query": q,
            "response": t,
            "alpha": alphas[kind][steered.index(value)] if value else 0.0,
        }
        for (kind, value), outs in texts.items()
        for qid, q, t in zip(chosen["query_id"], chosen["query"], outs, strict=True)
    ]


def _diversity_per_set(table: pd.DataFrame, texts: dict[tuple[str, str], list[str]]) -> pd.DataFrame:
    """Per set of answers (kind, value): the non-empty answers, their Distinct-2 and embedding diversity."""
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    nonempty = table["response"].str.strip() != ""
    emb = np.zeros((len(table), 384))
    if nonempty.any():
        emb[nonempty.to_numpy()] = sentence_embeddings(list(table.loc[nonempty, "response"]))
    per_set = []
    for kind, value in texts:
        rows = table[(table["kind"] == kind) & (table["value"] == value)]
        good = rows[rows["response"].str.strip() != ""]
        try:
            distinct = distinct_n(list(good["response"]), 2)
        except ValueError:
            distinct = float("nan")
        spread = embedding_diversity(emb[good.index.to_numpy()]) if len(good) >= 2 else float("nan")
        per_set.append(
            {
                "kind": kind,
                "value": value,
                "n_answers": len(good),
                "distinct2": distinct,
                "embedding_diversity": spread,
            }
        )
    return pd.DataFrame(per_set)


def _mean_over_values(
    x: np.ndarray, kind: str, note: str, cfg: MechanismsConfig, read_point: int, seed: int
) -> dict[str, Any]:
    """A measure's mean over the steered values with answers (CI over values), or why it is missing."""
    finite = x[np.isfinite(x)]
    if len(finite) < 2:
        return missing(f"fewer than two values with non-empty answers under the {kind} vectors")
    est, lo, hi = stats.bootstrap(mean_of(finite), len(finite), n_boot=cfg.n_boot, seed=seed)
    return metric(est, lo, hi, n=len(finite), layer=read_point, better="higher", note=note)


def _intrinsic_minus_prompted(
    measure: str, by_kind: dict[str, np.ndarray], cfg: MechanismsConfig, read_point: int, seed: int
) -> dict[str, dict[str, Any]]:
    """The intrinsic vectors' diversity minus the prompted vectors', paired over values (none if fewer
    than two values have both)."""
    both = np.isfinite(by_kind["intrinsic"]) & np.isfinite(by_kind["prompted"])
    if both.sum() < 2:
        return {}
    diff = stats.paired_difference(
        by_kind["intrinsic"][both], by_kind["prompted"][both], n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=seed
    )
    return {
        f"{measure}_intrinsic_minus_prompted": diff.as_metric(
            layer=read_point,
            note="paired over values; the reference paper finds intrinsic vectors give more diverse answers",
        )
    }
