"""The cross-model part of ``lexicon``: every model's terms pooled, grouped into families of forms,
clustered by their embeddings, factor-analysed as a response-by-family matrix, and compared with
ValueLex's taxonomy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from valuescope.data.valuelex import SUBDIMENSIONS
from valuescope.instruments.sentence_embeddings import sentence_embeddings
from valuescope.stats.metrics import metric, missing
from valuescope.studies.lexicon import clusters, factors, stimuli, terms
from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.lexicon.elicit import ANCHORS_PATH
from valuescope.studies.lexicon.term_families import term_families

STRUCTURE_METRICS = ("n_terms", "n_clusters", "n_factors", "kmo", "taxonomy_agreement")


def pool(per_model: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Every model's (response, term) rows with responses numbered across models, and each pooled
    response's model."""
    frames: list[pd.DataFrame] = []
    owners: list[str] = []
    for m, art in per_model.items():
        if "responses" not in art.tables:
            continue
        t = art.tables["terms"][["response", "term"]].copy()
        t["response"] = t["response"] + len(owners)
        frames.append(t.assign(model=m))
        owners += [m] * len(art.tables["responses"])
    if not frames:
        return pd.DataFrame(columns=["response", "term", "model"]), owners
    return pd.concat(frames, ignore_index=True), owners


def anchors_path(per_model: Mapping[str, Any], cfg: LexiconConfig) -> str | None:
    """The anchors file the comparison reads: the one the models' elicitation units recorded in the run's
    manifest, else the config's value (None: the package's anchors)."""
    for art in per_model.values():
        path = getattr(art, "data", {}).get(ANCHORS_PATH)
        if path:
            return str(path)
    return cfg.anchors


def _descriptions(path: str | None) -> np.ndarray:
    anchors = stimuli.load_anchors(path)
    return np.stack(
        [
            sentence_embeddings(
                list(anchors.loc[anchors["subdimension"] == s, "description"]), cache=True
            ).mean(0)
            for s in SUBDIMENSIONS
        ]
    )


def family_counts(pooled: pd.DataFrame, owners: list[str]) -> pd.DataFrame:
    """Per family: responses naming it (all models) and the share of each model's responses."""
    pairs = pooled[["response", "family", "model"]].drop_duplicates(["response", "family"])
    table = pairs.groupby("family").size().rename("responses").to_frame()
    sizes = pd.Series(owners).value_counts()
    for m in dict.fromkeys(owners):
        named = pairs[pairs["model"] == m].groupby("family").size()
        table[f"share_{m}"] = named.reindex(table.index, fill_value=0) / sizes[m]
    return table.sort_values("responses", ascending=False, kind="stable").reset_index()


def _clusters(
    heads: list[str], emb: np.ndarray, desc: np.ndarray, cfg: LexiconConfig, seed: int
) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    k_max = max(cfg.min_clusters, min(cfg.max_clusters, len(heads) - 1))
    fit = clusters.cluster_terms(emb, heads, k_range=range(cfg.min_clusters, k_max + 1), seed=seed)
    agree = clusters.taxonomy_agreement(
        emb, fit.labels, desc, subdimension_names=SUBDIMENSIONS, n_perm=cfg.n_perm, seed=seed
    )
    est, lo, hi = clusters.coverage_interval(emb, fit.labels, desc, n_boot=cfg.n_boot, seed=seed)
    metrics = {
        "n_clusters": metric(
            fit.k,
            n=len(heads),
            note=f"k in {cfg.min_clusters}..{k_max} by cosine silhouette, over {len(heads)} term families "
            f"named in at least {cfg.min_family_responses} responses",
        ),
        "taxonomy_agreement": metric(
            est,
            lo,
            hi,
            p=agree["p"],
            n=len(heads),
            better="higher",
            note=f"mean best cosine of a cluster to each ValueLex subdimension (95% CI over terms); "
            f"{agree['n_perm']} random partitions of the same terms: median {agree['null_median']:.3f} "
            f"[{agree['null_low']:.3f}, {agree['null_high']:.3f}], SD {agree['null_sd']:.3g}"
            + ("" if agree["p"] is not None else "; the null has no spread, so no p"),
        ),
    }
    tables = {
        "clusters": pd.DataFrame(
            {"family": heads, "cluster": fit.labels, "cluster_name": [fit.names[c] for c in fit.labels]}
        ),
        "taxonomy_null": pd.DataFrame(
            [
                {
                    k: agree[k]
                    for k in ("estimate", "null_median", "null_low", "null_high", "null_sd", "p", "n_perm")
                }
            ]
        ),
        "taxonomy_tree": clusters.taxonomy_tree(fit, desc, SUBDIMENSIONS),
        "cluster_silhouette": fit.silhouette.reset_index(),
        "taxonomy_subdimensions": agree["per_subdimension"]
        .reset_index()
        .assign(best_cluster_name=lambda t: [fit.names[c] for c in t["best_cluster"]]),
    }
    return metrics, tables


def _factors(
    pooled: pd.DataFrame,
    owners: list[str],
    cfg: LexiconConfig,
    seed: int,
    embed: Mapping[str, np.ndarray],
    desc: np.ndarray,
) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    n = len(owners)
    matrix, kept = terms.term_matrix(
        pooled.rename(columns={"family": "term", "term": "form"}), n, min_share=cfg.min_share
    )
    cap = n // cfg.rows_per_term
    if len(kept) > cap:
        matrix, kept = matrix[:, :cap], kept[:cap]
    where = f"{n} responses x {len(kept)} term families named in >= {cfg.min_share:.0%} of them"
    try:
        adequacy = factors.adequacy(matrix.astype(float), kept)
        efa = factors.fit_efa(matrix.astype(float), kept, seed=seed)
    except ValueError as e:
        note = f"factor analysis not possible on {where}: {e}"
        return {"n_factors": missing(note, n=n), "kmo": missing(note, n=n)}, {}
    notes = "; ".join(efa.notes)
    metrics = {
        "n_factors": metric(
            efa.n_factors, n=n, note=f"parallel analysis on {where}" + (f" ({notes})" if notes else "")
        ),
        "kmo": metric(
            adequacy["kmo"], n=n, p=adequacy["bartlett_p"], note="p: Bartlett's test of sphericity"
        ),
    }
    loadings = efa.loadings.copy()
    loadings["communality"] = efa.communalities
    tables = {
        "loadings": loadings.reset_index(names="term"),
        "factor_scores": efa.scores.assign(model=owners).groupby("model", sort=False).mean().reset_index(),
        "factor_variance": efa.variance.reset_index(),
    }
    if efa.parallel is not None:
        tables["parallel_analysis"] = efa.parallel.reset_index()
    tables["factor_taxonomy"] = clusters.factor_alignment(
        efa.loadings,
        np.stack([embed[t] for t in efa.loadings.index]),
        desc,
        subdimension_names=SUBDIMENSIONS,
        center_on=np.stack(list(embed.values())),
        n_perm=cfg.n_perm,
        seed=seed,
    )
    return metrics, tables


def _model_factors(
    counts: pd.DataFrame, cfg: LexiconConfig, seed: int
) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    """Factor analysis of the model-by-family matrix (each model's share of responses naming each
    family), ValueLex's own design, once the run has enough models for it."""
    shares = counts.set_index("family")[[c for c in counts.columns if c.startswith("share_")]].T
    n = shares.shape[0]
    if n < cfg.min_models_for_model_factors:
        return {}, {}
    keep = shares.columns[: n // cfg.rows_per_term]
    where = f"{n} models x {len(keep)} most named term families"
    try:
        efa = factors.fit_efa(shares[keep].to_numpy(dtype=float), [str(k) for k in keep], seed=seed)
    except ValueError as e:
        return {"n_model_factors": missing(f"factor analysis not possible on {where}: {e}", n=n)}, {}
    scores = efa.scores.assign(model=[c.removeprefix("share_") for c in shares.index])
    return (
        {"n_model_factors": metric(efa.n_factors, n=n, note=f"parallel analysis on {where}")},
        {"model_loadings": efa.loadings.reset_index(names="term"), "model_factor_scores": scores},
    )


def compare_terms(
    per_model: Mapping[str, Any], cfg: LexiconConfig, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and tables of the pooled lexicon (see the module docstring)."""
    pooled, owners = pool(per_model)
    if not owners:
        note = "no model produced elicitation responses"
        return {k: missing(note) for k in STRUCTURE_METRICS}, {}
    unique = sorted(set(pooled["term"]))
    models = len(dict.fromkeys(owners))
    metrics: dict[str, dict[str, Any]] = {
        "n_terms": metric(len(unique), n=len(owners), note=f"distinct value terms from {models} model(s)")
    }
    tables: dict[str, pd.DataFrame] = {}
    if not unique:
        note = f"the {len(owners)} responses named no value term"
        return {**metrics, **{k: missing(note) for k in STRUCTURE_METRICS[1:]}}, {}
    emb = sentence_embeddings(unique, cache=True)
    responses = pooled.drop_duplicates(["response", "term"]).groupby("term").size().reindex(unique)
    families = term_families(unique, [int(r) for r in responses], emb)
    pooled["family"] = pooled["term"].map(dict(zip(families["term"], families["family"], strict=True)))
    tables["term_families"] = families.sort_values(["family_responses", "responses"], ascending=False)
    counts = family_counts(pooled, owners)
    tables["family_counts"] = counts
    metrics["n_terms"]["note"] += f", in {counts.shape[0]} families of derived forms"
    heads = [
        f for f, r in zip(counts["family"], counts["responses"], strict=True) if r >= cfg.min_family_responses
    ]
    desc = _descriptions(anchors_path(per_model, cfg))
    if len(heads) > cfg.min_clusters:
        index = {t: i for i, t in enumerate(unique)}
        found, found_tables = _clusters(heads, emb[[index[h] for h in heads]], desc, cfg, seed)
        metrics.update(found)
        tables.update(found_tables)
    else:
        note = (
            f"only {len(heads)} term families are named in at least {cfg.min_family_responses} responses; "
            f"clustering into at least {cfg.min_clusters} needs more"
        )
        metrics["n_clusters"] = missing(note)
        metrics["taxonomy_agreement"] = missing(note)
    embed = dict(zip(unique, emb, strict=True))
    for part in (_factors(pooled, owners, cfg, seed, embed, desc), _model_factors(counts, cfg, seed)):
        metrics.update(part[0])
        tables.update(part[1])
    return metrics, tables
