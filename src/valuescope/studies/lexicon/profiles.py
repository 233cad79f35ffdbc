"""The ``projective`` step of ``lexicon`` (stem completions scored into a calibrated 0-100 profile), the
scorer's validation against external labels, and paired profile comparisons between models."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from valuescope.data.valuelex import SUBDIMENSIONS
from valuescope.instruments import projective
from valuescope.stats.metrics import metric, missing
from valuescope.studies.lexicon import stimuli
from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.lexicon.elicit import data_path
from valuescope.studies.protocol import Artifacts, UnitContext

CHAT_INSTRUCTION = "Complete this sentence about yourself in a few words. Reply with the whole sentence."


def _scorer(ctx: UnitContext[LexiconConfig]) -> projective.CompletionScorer:
    cfg = ctx.config
    if cfg.scorer == "polarity":
        from valuescope.instruments.polarity import SubdimensionPolarity

        return SubdimensionPolarity()
    if cfg.scorer == "embedding":
        return projective.EmbeddingScorer(stimuli.load_anchors(data_path(ctx, cfg.anchors)))
    judge = ctx.lm if cfg.judge_model is None else ctx.other_model(cfg.judge_model)
    return projective.JudgeScorer(judge)


def _first_line(text: str) -> str:
    """The first line of a continuation ("(empty)" for none); a chat model's first line is its sentence."""
    line = text.strip().split("\n")[0].strip()
    return line or "(empty)"


def projective_step(ctx: UnitContext[LexiconConfig]) -> Artifacts:
    """Completions of every stem, scored per subdimension, as a calibrated 0-100 profile per model; with
    ``scorer_validation`` set, the scorer's AUROC against those external labels."""
    cfg = ctx.config
    lm = ctx.lm
    stems = stimuli.load_stems(data_path(ctx, cfg.stems))
    instruct = bool(getattr(lm, "instruct", True))
    rows: list[dict[str, str]] = [
        {str(k): str(v) for k, v in s.items()}
        for s in stems.to_dict("records")
        for _ in range(cfg.completions_per_stem)
    ]
    prefixes = [stimuli.completion_prefix(s["stem"]) for s in rows]
    prompts = [f"{CHAT_INSTRUCTION}\n\n{p} ..." if instruct else p for p in prefixes]
    texts = lm.generate(
        prompts,
        max_new_tokens=cfg.completion_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=ctx.seed,
        stop=["\n"] if not instruct else None,
        progress=ctx.progress,
    )
    completions = [_first_line(t) for t in texts]
    scorer = _scorer(ctx)
    validation = stimuli.load_validation(data_path(ctx, cfg.validation))
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
    records = [
        {"stem_id": str(i), "subdimension": str(s), "prompt": p, "generated": g, "completion": c}
        for i, s, p, g, c in zip(ids, sub, prompts, texts, completions, strict=True)
    ]
    tables = {"completions": table, "profile": prof, "calibration": calibration.as_table()}
    if cfg.scorer_validation is not None:
        labelled = stimuli.load_labels(str(data_path(ctx, cfg.scorer_validation)))
        tables["scorer_validation"] = projective.scorer_validation(
            scorer, labelled, n_boot=cfg.n_boot, seed=ctx.seed
        )
    return Artifacts(
        tables=tables,
        generations={"projective": records},
        data={"scorer": scorer.name},
        metrics=metrics,
    )


def _thresholds(art: Artifacts) -> dict[str, float]:
    table = art.tables["calibration"]
    return {
        str(s): float(t)
        for s, t in zip(table["subdimension"], table["threshold"], strict=True)
        if s in SUBDIMENSIONS
    }


def _kind(art: Artifacts) -> str:
    responses = art.tables.get("responses")
    if responses is None or responses.empty:
        return "unknown"
    return "instruction-tuned" if responses["framing"].iloc[0] == "chat" else "base"


def compare_profiles(
    per_model: Mapping[str, Artifacts], cfg: LexiconConfig, seed: int
) -> pd.DataFrame | None:
    """Every pair of models, per subdimension: the paired difference of per-stem percentages over the
    stems both completed (bootstrap CI, sign-flip p, BH q within the pair), with the pair's kind ("base
    vs instruction-tuned"). None with fewer than two scored models; pairs whose scorers were calibrated
    differently are left out."""
    models = [m for m, a in per_model.items() if "completions" in a.tables and "calibration" in a.tables]
    frames = []
    for a, b in combinations(models, 2):
        ta, tb = _thresholds(per_model[a]), _thresholds(per_model[b])
        if ta != tb:
            continue
        ca, cb = per_model[a].tables["completions"], per_model[b].tables["completions"]
        table = projective.compare_profiles(
            ca["score"].to_numpy(dtype=float),
            cb["score"].to_numpy(dtype=float),
            ca["subdimension"].to_numpy(),
            ca["stem_id"].to_numpy(),
            projective.Calibration(ta, {}, pd.DataFrame(), str(per_model[a].data.get("scorer", ""))),
            b_subdimension=cb["subdimension"].to_numpy(),
            b_stem_ids=cb["stem_id"].to_numpy(),
            n_boot=cfg.n_boot,
            seed=seed,
        )
        frames.append(
            table.assign(model_a=a, model_b=b, pair=f"{_kind(per_model[a])} vs {_kind(per_model[b])}")
        )
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    first = ["model_a", "model_b", "pair"]
    return out[[*first, *[c for c in out.columns if c not in first]]]


def scorer_auroc(per_model: Mapping[str, Artifacts]) -> dict[str, Any] | None:
    """The ``overall`` AUROC of the scorer on the external labels, when every model used the same scorer
    (the embedding scorer, or one judge); None when no scorer validation ran."""
    tables = {
        m: a.tables["scorer_validation"] for m, a in per_model.items() if "scorer_validation" in a.tables
    }
    if not tables:
        return None
    scorers = {str(per_model[m].data.get("scorer")) for m in tables}
    first = next(iter(tables.values()))
    if len(scorers) > 1:
        return missing(
            f"the models were scored by different scorers ({', '.join(sorted(scorers))}); see each model's "
            "scorer_validation table"
        )
    row = next(r for r in first.to_dict("records") if r["subdimension"] == projective.OVERALL)
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return missing(
            f"AUROC {float(row['auroc']):.3f} on {int(row['n_completions'])} labelled completions, but too "
            "few stems hold both labels for a bootstrap CI; label more stems"
        )
    return metric(
        float(row["auroc"]),
        float(row["ci_low"]),
        float(row["ci_high"]),
        n=int(row["n_completions"]),
        better="higher",
        note=f"{next(iter(scorers))} scorer on the external labels; 95% CI over {int(row['n_stems'])} stems",
    )
