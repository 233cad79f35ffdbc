"""Steps of ``lexicon``: elicit value terms from each model, complete projective stems and score them;
across models, cluster the terms, factor-analyse the response-by-term matrix and compare the structure
with ValueLex's taxonomy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from valuescope.analysis import clusters, factors, terms
from valuescope.readout import projective
from valuescope.readout.sentence_embeddings import sentence_embeddings
from valuescope.stimuli import lexicon as stimuli
from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.metrics import metric, missing
from valuescope.studies.protocol import Artifacts, UnitContext


def config_of(ctx: UnitContext) -> LexiconConfig:
    assert isinstance(ctx.config, LexiconConfig)
    return ctx.config


def _path(ctx: UnitContext, value: str | None) -> str | None:
    return None if value is None else str(ctx.data.use(value))


def elicit_step(ctx: UnitContext) -> Artifacts:
    """k sampled answers to every elicitation prompt: chat models get the question through their chat
    template, base models the first-person completion framing."""
    cfg = config_of(ctx)
    lm = ctx.lm
    prompts = stimuli.load_elicitation(_path(ctx, cfg.elicitation))
    if cfg.n_prompts is not None:
        prompts = prompts.head(cfg.n_prompts)
    instruct = bool(getattr(lm, "instruct", True))
    column = "prompt" if instruct else "completion"
    rows = [
        (p.prompt_id, s, getattr(p, column))
        for p in prompts.itertuples(index=False)
        for s in range(cfg.samples)
    ]
    texts = lm.generate(
        [r[2] for r in rows],
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=ctx.seed,
        progress=ctx.progress,
    )
    table = pd.DataFrame(
        {
            "prompt_id": [r[0] for r in rows],
            "sample": [r[1] for r in rows],
            "framing": column,
            "response": [t.strip() for t in texts],
        }
    )
    found = terms.extract_terms(list(table["response"]))
    report = terms.filter_report(list(table["response"]))
    per_response = found.groupby("response").size().reindex(range(len(table)), fill_value=0)
    table["n_terms"] = per_response.to_numpy()
    counts = found.groupby("term").agg(count=("response", "size"), responses=("response", "nunique"))
    counts = counts.sort_values(["responses", "count"], ascending=False).reset_index()
    records: list[dict[str, Any]] = [
        {"prompt_id": str(r[0]), "sample": int(r[1]), "prompt": str(r[2]), "response": t}
        for r, t in zip(rows, texts, strict=True)
    ]
    empty = int((table["n_terms"] == 0).sum())
    metrics = {
        "n_responses": metric(len(table), n=len(prompts)),
        "n_model_terms": metric(
            len(counts), n=len(table), note=f"{empty} of {len(table)} responses gave no value term"
        ),
    }
    return Artifacts(
        tables={"responses": table, "terms": found, "term_counts": counts, "filter_report": report},
        generations={"elicitation": records},
        metrics=metrics,
    )


def _scorer(ctx: UnitContext) -> projective.CompletionScorer:
    cfg = config_of(ctx)
    if cfg.scorer == "embedding":
        return projective.EmbeddingScorer(stimuli.load_anchors(_path(ctx, cfg.anchors)))
    judge = ctx.lm if cfg.judge_model is None else ctx.other_model(cfg.judge_model)
    return projective.JudgeScorer(judge)


def projective_step(ctx: UnitContext) -> Artifacts:
    """Completions of every stem, scored per subdimension, as a calibrated 0-100 profile per model."""
    cfg = config_of(ctx)
    lm = ctx.lm
    stems = stimuli.load_stems(_path(ctx, cfg.stems))
    instruct = bool(getattr(lm, "instruct", True))
    rows: list[dict[str, str]] = [
        {str(k): str(v) for k, v in s.items()}
        for s in stems.to_dict("records")
        for _ in range(cfg.completions_per_stem)
    ]
    prefixes = [stimuli.completion_prefix(s["stem"]) for s in rows]
    prompts = [
        f"Complete this sentence about yourself in a few words. Reply with the whole sentence.\n\n{p} ..."
        if instruct
        else p
        for p in prefixes
    ]
    texts = lm.generate(
        prompts,
        max_new_tokens=cfg.completion_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=ctx.seed,
        progress=ctx.progress,
    )
    completions = [t.strip().split("\n")[0].strip() or "(empty)" for t in texts]
    scorer = _scorer(ctx)
    validation = stimuli.load_validation(_path(ctx, cfg.validation))
    calibration = projective.calibrate(scorer, validation, stems=stems)
    sub = np.array([s["subdimension"] for s in rows])
    ids = np.array([s["stem_id"] for s in rows])
    scores = scorer.scores([s["stem"] for s in rows], completions, list(sub))
    prof = projective.profile(scores, sub, ids, calibration, n_boot=cfg.n_boot, seed=ctx.seed)
    metrics: dict[str, dict[str, Any]] = {}
    for r in prof.to_dict("records"):
        metrics[f"profile_{r['subdimension']}"] = metric(
            float(r["percent"]),
            float(r["ci_low"]),
            float(r["ci_high"]),
            n=int(r["n_stems"]),
            note=f"% of {int(r['n_completions'])} completions above the calibrated threshold "
            f"{float(r['threshold']):.3f} ({scorer.name})",
        )
    table = pd.DataFrame(
        {"stem_id": ids, "subdimension": sub, "prompt": prompts, "completion": completions, "score": scores}
    )
    return Artifacts(
        tables={"completions": table, "profile": prof, "calibration": calibration.as_table()},
        generations={
            "projective": [
                {str(k): v for k, v in r.items()} for r in table.drop(columns=["score"]).to_dict("records")
            ]
        },
        metrics=metrics,
    )


def compare_models(per_model: Mapping[str, Artifacts], cfg: LexiconConfig, seed: int) -> Artifacts:
    """Terms of every model pooled: clusters of their embeddings, factor analysis of responses by terms,
    agreement with the taxonomy; model-by-model profile comparisons over stems."""
    models = [m for m, a in per_model.items() if "responses" in a.tables]
    metrics: dict[str, dict[str, Any]] = {}
    tables: dict[str, pd.DataFrame] = {}
    if not models:
        note = "no model produced elicitation responses"
        return Artifacts(
            metrics={
                k: missing(note) for k in ("n_terms", "n_clusters", "n_factors", "kmo", "taxonomy_agreement")
            }
        )
    frames, offset, owners = [], 0, []
    for m in models:
        t = per_model[m].tables["terms"].copy()
        n = len(per_model[m].tables["responses"])
        t["response"] = t["response"] + offset
        frames.append(t)
        owners += [m] * n
        offset += n
    pooled = pd.concat(frames, ignore_index=True)
    unique_terms = sorted(set(pooled["term"]))
    metrics["n_terms"] = metric(
        len(unique_terms), n=offset, note=f"distinct value terms from {len(models)} model(s)"
    )
    anchors = stimuli.load_anchors(cfg.anchors)
    desc = np.stack(
        [
            sentence_embeddings(
                list(anchors.loc[anchors["subdimension"] == s, "description"]), cache=True
            ).mean(0)
            for s in stimuli.SUBDIMENSIONS
        ]
    )
    if len(unique_terms) >= 4:
        emb = sentence_embeddings(unique_terms, cache=True)
        k_max = max(2, min(12, len(unique_terms) - 1))
        clustered = clusters.cluster_terms(emb, unique_terms, k_range=range(2, k_max + 1), seed=seed)
        agree = clusters.taxonomy_agreement(
            emb,
            clustered.labels,
            desc,
            subdimension_names=stimuli.SUBDIMENSIONS,
            n_perm=cfg.n_perm,
            seed=seed,
        )
        est, lo, hi = clusters.coverage_interval(emb, clustered.labels, desc, n_boot=cfg.n_boot, seed=seed)
        metrics["n_clusters"] = metric(clustered.k, n=len(unique_terms), note="k by cosine silhouette")
        metrics["taxonomy_agreement"] = metric(
            est,
            lo,
            hi,
            p=agree["p"],
            n=len(unique_terms),
            better="higher",
            note=f"mean best cosine of a cluster to each ValueLex subdimension; random partitions "
            f"{agree['null_mean']:.3f} [{agree['null_low']:.3f}, {agree['null_high']:.3f}]",
        )
        tables["clusters"] = pd.DataFrame(
            {
                "term": unique_terms,
                "cluster": clustered.labels,
                "cluster_name": [clustered.names[c] for c in clustered.labels],
            }
        )
        tables["taxonomy_tree"] = clusters.taxonomy_tree(clustered, desc, stimuli.SUBDIMENSIONS)
        tables["taxonomy_subdimensions"] = agree["per_subdimension"]
    else:
        note = f"only {len(unique_terms)} distinct terms; clustering needs at least 4"
        metrics["n_clusters"] = missing(note)
        metrics["taxonomy_agreement"] = missing(note)
    matrix, kept = terms.term_matrix(pooled, offset, min_share=cfg.min_share)
    cap = offset // cfg.rows_per_term
    if len(kept) > cap:
        matrix, kept = matrix[:, :cap], kept[:cap]
    try:
        adequacy = factors.adequacy(matrix.astype(float), kept)
        efa = factors.fit_efa(matrix.astype(float), kept, seed=seed)
    except ValueError as e:
        note = f"factor analysis not possible on {offset} responses x {len(kept)} terms: {e}"
        metrics["n_factors"] = missing(note)
        metrics["kmo"] = missing(note)
    else:
        metrics["n_factors"] = metric(
            efa.n_factors, n=offset, note=f"parallel analysis on {offset} responses x {len(kept)} terms"
        )
        metrics["kmo"] = metric(
            adequacy["kmo"], n=offset, p=adequacy["bartlett_p"], note="p: Bartlett's test of sphericity"
        )
        tables["loadings"] = efa.loadings.reset_index(names="term")
        scores = efa.scores.assign(model=owners)
        tables["factor_scores"] = scores.groupby("model").mean().reset_index()
    return Artifacts(tables=tables, metrics=metrics)
