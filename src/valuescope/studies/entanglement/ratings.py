"""Ratings steps: every item rated under each instruction, paraphrase and scale direction; entanglement
indices, discriminations and agreements from them; the same indices adjusted for log-probability."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.stats.metrics import metric
from valuescope.studies.entanglement import stimuli
from valuescope.studies.entanglement.config import (
    DOMAINS,
    HUMAN_NOTE,
    LEVEL,
    OPTIONS,
    EntanglementConfig,
    prompt,
    stimuli_of,
    texts_of,
)
from valuescope.studies.entanglement.outputs import RATINGS
from valuescope.studies.entanglement.rating_effects import (
    discrimination,
    entanglement_estimate,
    logprob_adjusted_index,
)
from valuescope.studies.entanglement.verdicts import describe_entanglement, uninterpretable
from valuescope.studies.protocol import Artifacts, UnitContext

if TYPE_CHECKING:
    pass


def rating_rows(items: pd.DataFrame, kinds: list[str], paraphrases: int, reversed_n: int) -> pd.DataFrame:
    rows = []
    for kind in kinds:
        for k in range(paraphrases):
            for rev in (False, True) if k < reversed_n else (False,):
                block = items.assign(kind=kind, paraphrase=k, reversed=rev)
                rows.append(block)
    frame = pd.concat(rows, ignore_index=True)
    frame["prompt"] = [
        prompt(kind, k, rev, text)
        for kind, k, rev, text in zip(
            frame["kind"], frame["paraphrase"], frame["reversed"], frame["text"], strict=True
        )
    ]
    return frame


def rate_rows(lm: Any, rows: pd.DataFrame, progress: bool, mass: bool = True) -> pd.DataFrame:
    """``rows`` with their expected rating and (``mass``) option mass under the edits active now."""
    rated = lm.rate(
        list(rows["prompt"]), OPTIONS, reverse=list(rows["reversed"]), progress=progress, mass=mass
    )
    out = rows.drop(columns=["prompt"]).copy()
    out["expected"] = rated["expected"].to_numpy()
    out["mass"] = rated["mass"].to_numpy()
    return out


def item_scores(ratings: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One row per item: its mean rating of ``kind`` over paraphrases and scale directions."""
    sub = ratings[ratings["kind"] == kind]
    keys = [
        c for c in ("item_id", "domain", "frame", "pair", "base", "valence", "version") if c in sub.columns
    ]
    return sub.groupby(keys, sort=False, as_index=False).agg(score=("expected", "mean"))


def _agreement(ratings: pd.DataFrame, a: pd.Series, b: pd.Series, seed: int, n_boot: int) -> dict[str, Any]:
    """Pearson r between two rating variants of the same items (frame bootstrap CI)."""
    keys = ["item_id", "kind"]
    left = ratings[a].set_index(keys)["expected"]
    right = ratings[b].set_index(keys)["expected"]
    joined = pd.concat([left.rename("a"), right.rename("b")], axis=1, join="inner")
    frames = ratings.drop_duplicates(keys).set_index(keys).loc[joined.index, "frame"].to_numpy()
    # centre within kind: agreement on which items rate higher, not on each instruction's mean
    centred = joined.groupby(level="kind").transform(lambda s: s - s.mean())
    x, y = centred["a"].to_numpy(), centred["b"].to_numpy()

    def r(idx: np.ndarray) -> float:
        return float(np.corrcoef(x[idx], y[idx])[0, 1])

    est, lo, hi = stats.bootstrap(r, len(x), groups=frames, n_boot=n_boot, seed=seed)
    return metric(est, lo, hi, n=len(np.unique(frames)), better="higher")


def ratings_step(ctx: UnitContext[EntanglementConfig]) -> Artifacts:
    cfg = ctx.config
    data = stimuli_of(ctx)
    rows = [rating_rows(data[d], [d, "moral"], cfg.paraphrases, cfg.reversed_paraphrases) for d in DOMAINS]
    ratings = rate_rows(ctx.lm, pd.concat(rows, ignore_index=True), ctx.progress)
    human = stimuli.load_human_ratings(ctx.data.use(cfg.human_ratings)) if cfg.human_ratings else None
    metrics: dict[str, dict[str, Any]] = {}
    notes = []
    for domain in DOMAINS:
        items = item_scores(ratings[ratings["domain"] == domain], domain)
        level, positive = LEVEL[domain]
        kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
        human_scores = _human(human, items, domain)
        ent = entanglement_estimate(items, "score", level, human=human_scores, **kw)
        disc = discrimination(items, "score", level, positive, **kw)
        flag = uninterpretable(disc)
        text = describe_entanglement(ent, domain)
        note = text + ("; UNINTERPRETABLE: the intended discrimination's CI covers 0" if flag else "")
        note += HUMAN_NOTE if human_scores is not None else "; human index 0 by construction"
        metrics[f"{domain}_entanglement"] = ent.as_metric(better="lower", note=note)
        metrics[f"{domain}_discrimination"] = disc.as_metric(
            better="higher", note=f"Cohen's d, {positive} vs the other version, on the {domain} rating"
        )
        notes.append(
            {
                "domain": domain,
                "statement": note,
                "uninterpretable": flag,
                "relative_to_human": human_scores is not None,
            }
        )
        if cfg.reversed_paraphrases >= 1:
            for label, rev in (("normal", False), ("reversed", True)):
                rows_ = ratings[(ratings["domain"] == domain) & (ratings["reversed"] == rev)]
                sub = item_scores(rows_[rows_["paraphrase"] < cfg.reversed_paraphrases], domain)
                est = entanglement_estimate(sub, "score", level, human=_human(human, sub, domain), **kw)
                metrics[f"{domain}_entanglement_{label}_scale"] = est.as_metric(
                    better="lower",
                    note=f"only the {label}-scale ratings of the paraphrases asked both ways (a model that "
                    "answers the same digit whatever the anchors say flips sign between the two)",
                )
    moral_items = item_scores(ratings, "moral")
    moral = discrimination(
        moral_items, "score", "valence", "good", n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
    )
    metrics["moral_discrimination"] = moral.as_metric(
        better="higher", note="good vs bad items on the moral rating"
    )
    base_variant = (ratings["paraphrase"] == 0) & ~ratings["reversed"]
    if cfg.paraphrases >= 2:
        metrics["agreement_paraphrase"] = _agreement(
            ratings, base_variant, (ratings["paraphrase"] == 1) & ~ratings["reversed"], ctx.seed, cfg.n_boot
        )
        metrics["agreement_paraphrase"]["note"] = "Pearson r, paraphrase 1 vs 2 (centred within instruction)"
    if cfg.reversed_paraphrases >= 1:
        metrics["agreement_reversal"] = _agreement(
            ratings, base_variant, (ratings["paraphrase"] == 0) & ratings["reversed"], ctx.seed, cfg.n_boot
        )
        metrics["agreement_reversal"]["note"] = (
            "Pearson r, normal vs reversed scale (centred within instruction)"
        )
    metrics["option_mass"] = _mean_metric(
        ratings["mass"].to_numpy(), ratings["frame"].to_numpy(), ctx.seed, cfg.n_boot
    )
    metrics["option_mass"]["note"] = "probability the next token is one of 1-7"
    return Artifacts(tables={RATINGS.name: ratings, "verdict": pd.DataFrame(notes)}, metrics=metrics)


def _human(human: pd.DataFrame | None, items: pd.DataFrame, domain: str) -> pd.Series | None:
    column = {"grammar": "grammatical", "economic": "economic"}[domain]
    if human is None or column not in human.columns:
        return None
    stimuli.check_human_ratings(human, items)
    return items["item_id"].map(human.set_index("item_id")[column])


def _mean_metric(values: np.ndarray, groups: np.ndarray, seed: int, n_boot: int) -> dict[str, Any]:
    est, lo, hi = stats.bootstrap(
        lambda idx: float(values[idx].mean()), len(values), groups=groups, n_boot=n_boot, seed=seed
    )
    return metric(est, lo, hi, n=len(np.unique(groups)))


def logprob_step(ctx: UnitContext[EntanglementConfig]) -> Artifacts:
    cfg = ctx.config
    ratings = ctx.read(RATINGS)
    metrics: dict[str, dict[str, Any]] = {}
    tables = {}
    for domain in DOMAINS:
        items = item_scores(ratings[ratings["domain"] == domain], domain)
        texts = texts_of(ctx, domain, items["item_id"])
        lp = ctx.local.logprob(texts, progress=ctx.progress)
        items["logprob"] = lp["logprob"].to_numpy()
        level, _ = LEVEL[domain]
        est = logprob_adjusted_index(
            items, "score", level, "logprob", n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
        )
        metrics[f"{domain}_entanglement_logprob_adjusted"] = est.as_metric(
            better="lower", note="entanglement after regressing each rating on the item's log-probability"
        )
        tables[f"logprob_{domain}"] = items
    return Artifacts(tables=tables, metrics=metrics)
