"""Step 1 of ``indifference``: the graded ground truth (MoralStrength or Social-Chem-101), neutral
items matched to it, and the split of lemmas into half A (choose, train, fit) and half B (report)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from valuescope.data import moral_items, neutral
from valuescope.data.moralstrength import load_moralstrength
from valuescope.data.socialchem import SOCIAL_CHEM_FILE, load_social_chem
from valuescope.model import Item
from valuescope.models.gguf_cache import cache_root
from valuescope.stats.metrics import metric
from valuescope.studies.indifference.config import IndifferenceConfig
from valuescope.studies.indifference.outputs import ITEMS
from valuescope.studies.protocol import Artifacts, UnitContext

CARRIERS = {"words": "Consider the word: {item}", "actions": "Consider this action: {item}"}


def ground_truth(ctx: UnitContext[IndifferenceConfig]) -> moral_items.LoadedItems:
    """The configured lexicon, loaded and validated (its kept / dropped counts included)."""
    cfg = ctx.config
    if cfg.lexicon == "moralstrength":
        folder = cfg.moralstrength
        return load_moralstrength(folder, version=cfg.moralstrength_version, multi=cfg.multi_foundation)
    path = cfg.social_chem
    found = ctx.data.use(path) if path else ctx.data.find(SOCIAL_CHEM_FILE)
    if found is None:
        raise FileNotFoundError(
            f"lexicon=social-chem needs the Social-Chemistry-101 TSV: set social_chem: PATH in the config or "
            f"put it at {SOCIAL_CHEM_FILE} under the data folder ({ctx.data.describe()})"
        )
    ctx.data.use(found)
    return load_social_chem(
        found, unit=cfg.social_chem_unit, min_agree=cfg.min_agree, max_rows=cfg.social_chem_rows
    )


def sample_lemmas(items: pd.DataFrame, max_lemmas: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_lemmas`` lemmas, sampled within each foundation x pole in proportion to its size."""
    lemmas = items.groupby("lemma", sort=True).first()
    if max_lemmas is None or len(lemmas) <= max_lemmas:
        return items.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    cell = lemmas["foundation"] + "/" + lemmas["kind"]
    chosen: list[str] = []
    for _, names in lemmas.groupby(cell, sort=True).groups.items():
        take = max(2, round(max_lemmas * len(names) / len(lemmas)))
        chosen.extend(rng.choice(np.asarray(names, dtype=object), size=min(take, len(names)), replace=False))
    return items[items["lemma"].isin(set(chosen))].reset_index(drop=True)


def single_words(texts: pd.Series) -> bool:
    return bool((~texts.str.contains(r"\s", regex=True)).mean() > 0.9)


def neutral_items(moral: pd.DataFrame, ratio: float, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Neutral items for the moral ones: frequency- and length-matched words, or authored actions."""
    n = max(10, round(ratio * moral["lemma"].nunique()))
    if single_words(moral["text"]):
        chosen = neutral.matched_neutral(list(moral["text"]), n, seed=seed)
        balance = neutral.form_balance(list(moral["text"]), list(chosen["text"]))
        return chosen[list(moral_items.ITEM_COLUMNS)], balance
    actions = neutral.load_neutral_actions()
    take = actions.sample(n=min(n, len(actions)), random_state=seed)
    return take[list(moral_items.ITEM_COLUMNS)], {}


def items_step(ctx: UnitContext[IndifferenceConfig]) -> Artifacts:
    cfg = ctx.config
    loaded = ground_truth(ctx)
    moral = sample_lemmas(loaded.items, cfg.max_lemmas, cfg.seed)
    neutral_rows, balance = neutral_items(moral, cfg.neutral_ratio, cfg.seed)
    items = pd.concat([moral, neutral_rows], ignore_index=True)
    items = moral_items.check_items(items, loaded.source)
    half_a, _ = moral_items.lemma_split(items, seed=cfg.seed)
    items["half"] = np.where(half_a, "A", "B")
    report = pd.DataFrame(
        [{"reason": "kept", "rows": loaded.kept}]
        + [{"reason": r, "rows": n} for r, n in sorted(loaded.dropped.items())]
    )
    counts = items.groupby(["half", "kind"]).agg(items=("item_id", "size"), lemmas=("lemma", "nunique"))
    tables = {ITEMS.name: items, "load_report": report, "item_counts": counts.reset_index()}
    if balance:
        tables["form_balance"] = pd.DataFrame([balance])
    metrics = {
        "n_items": metric(len(items), n=int(items["lemma"].nunique())),
        "n_moral_lemmas": metric(int(moral["lemma"].nunique()), n=int(moral["lemma"].nunique())),
    }
    data = {"source": loaded.source, "construction": loaded.construction, "load": loaded.describe()}
    return Artifacts(tables=tables, metrics=metrics, data=data)


def carrier_of(cfg: IndifferenceConfig, items: pd.DataFrame) -> str | None:
    if cfg.carrier != "auto":
        return cfg.carrier
    return CARRIERS["words" if single_words(items["text"]) else "actions"]


def reading_items(carrier: str | None, texts: pd.Series) -> list[Item]:
    """(context, item) pairs: the carrier before ``{item}`` is read but only the item is pooled."""
    if carrier is None:
        return [str(t) for t in texts]
    prefix = carrier[: -len("{item}")]
    context, gap = prefix.rstrip(), " " if prefix[-1:].isspace() else ""
    return [(context, gap + str(t)) for t in texts] if context else [gap + str(t) for t in texts]


def read_items(ctx: UnitContext[IndifferenceConfig], items: pd.DataFrame, layers: list[int]) -> np.ndarray:
    """Residuals of every item at ``layers``, pooled over the item's own tokens (cached on disk)."""
    cfg = ctx.config
    lm = ctx.local
    x = lm.residuals(
        reading_items(carrier_of(cfg, items), items["text"]),
        layers=layers,
        pool=cfg.pool,
        progress=ctx.progress,
        store=cache_root() / "residuals",
    )
    return x.double().numpy()
