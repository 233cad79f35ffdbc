"""Step 3 of ``indifference``: a sparse autoencoder at the chosen read point (trained here on half A's
corpus, or a pretrained one in SAELens' layout) and the moral features it holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope.data.queries import load_queries
from valuescope.data.reference import reference_texts
from valuescope.data.texts import read_texts
from valuescope.stats.metrics import metric
from valuescope.studies.indifference import sae_features, sae_io
from valuescope.studies.indifference.config import IndifferenceConfig
from valuescope.studies.indifference.diagnostics import halves
from valuescope.studies.indifference.items import carrier_of, read_items, reading_items
from valuescope.studies.indifference.outputs import (
    FALLBACK_FEATURES,
    ITEMS,
    MORAL_DIRECTIONS,
    READ_POINT,
    SAE_READ_POINT,
)
from valuescope.studies.indifference.sae_model import SAE, evaluate_sae
from valuescope.studies.indifference.sae_training import train_sae
from valuescope.studies.protocol import Artifacts, UnitContext

WORD = re.compile(r"[a-z][a-z'-]*")
SAE_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec")


def class_labels(items: pd.DataFrame) -> np.ndarray:
    """``foundation_pole`` for moral items (e.g. ``care_vice``), ``neutral`` for neutral ones."""
    kind = items["kind"].astype(str)
    return np.where(kind == "neutral", "neutral", items["foundation"].astype(str) + "_" + kind)


def corpus(
    ctx: UnitContext[IndifferenceConfig], items: pd.DataFrame
) -> tuple[list[str], list[str], dict[str, int]]:
    """(half A's items in their carrier, neutral sentences, counts): no text that names a half-B item.
    Every token of the carrier text is trained on, so the SAE sees the context the items are read in."""
    cfg = ctx.config
    half_a, half_b = halves(items)
    held_out = {str(t).lower() for t in items.loc[half_b, "text"]}
    if cfg.sae_corpus:
        sentences = read_texts(ctx.data.use(cfg.sae_corpus))
    else:
        sentences = reference_texts() + list(load_queries()["query"])
    clean = [s for s in sentences if not held_out.intersection(WORD.findall(s.lower()))]
    read = reading_items(carrier_of(cfg, items), items.loc[half_a, "text"])
    own = [item if isinstance(item, str) else "".join(item) for item in read]
    counts = {"items": len(own), "sentences": len(clean), "sentences_dropped": len(sentences) - len(clean)}
    return own, clean, counts


def token_residuals(
    lm: Any, texts: list[Any], read_point: int, batch_size: int = 16, *, progress: bool | None = None
) -> torch.Tensor:
    """Every pooled-text token's residual at ``read_point`` (special tokens and each text's first position
    excluded: models without BOS park massive activations there, which would dominate the SAE); (n, d)."""
    if not texts:
        return torch.zeros(0, lm.d_model)
    out = lm.residuals(texts, layers=[read_point], pool="all", batch_size=batch_size, progress=progress)
    mask = out.mask.clone()
    mask[:, 0] = False  # the first position is an attention sink whether or not it is a BOS token
    return out.values[:, 0][mask]


@dataclass(frozen=True)
class FittedSAE:
    """An SAE, the read point it is applied at, and one row saying where it came from and how well it fits."""

    sae: SAE
    read_point: int
    training: dict[str, Any]
    """The row of the ``sae_training`` table."""
    fve_note: str
    """What the ``sae_fve`` metric was measured on."""


@dataclass(frozen=True)
class MoralFeatures:
    """The SAE features selective for one foundation x pole on half A (``passed`` False for a fallback)."""

    chosen: pd.DataFrame
    monosemanticity: pd.DataFrame
    n_passed: int
    """Features at or above ``min_auroc``; 0 means ``chosen`` holds each class's best two instead."""
    classes: list[str]

    @property
    def fallback(self) -> bool:
        return self.n_passed == 0

    def table(self) -> pd.DataFrame:
        """The chosen features with their monosemanticity (its columns suffixed ``_mono`` on a clash)."""
        return self.chosen.merge(self.monosemanticity, on="feature", how="left", suffixes=("", "_mono"))


def sae_step(ctx: UnitContext[IndifferenceConfig]) -> Artifacts:
    """An SAE at the chosen read point (pretrained, or trained here on half A's corpus), the features
    selective for one foundation x pole on half A, and the items that activate them most."""
    cfg = ctx.config
    items = ctx.read(ITEMS)
    rp = ctx.read(READ_POINT)
    fitted = pretrained_sae(ctx, items, rp) if cfg.sae else sae_trained_here(ctx, items, rp)
    rp = fitted.read_point
    x_items = read_items(ctx, items, [rp])[:, 0]
    acts = sae_features.feature_activations(fitted.sae, torch.as_tensor(x_items, dtype=torch.float32))
    half_a, _ = halves(items)
    moral = moral_features(acts, class_labels(items), half_a, cfg)
    texts_a = list(np.asarray(list(items["text"].astype(str)))[half_a])
    tables = {
        "sae_training": pd.DataFrame([fitted.training]),
        "moral_features": moral.table(),
        "feature_top_items": top_items_table(moral.chosen, acts[half_a], texts_a),
    }
    return Artifacts(
        tables=tables,
        tensors=sae_tensors(fitted.sae, moral.chosen),
        metrics=_sae_metrics(cfg, fitted, moral, n_items=int(x_items.shape[0])),
        data={SAE_READ_POINT.name: rp, FALLBACK_FEATURES.name: moral.fallback},
    )


def pretrained_sae(ctx: UnitContext[IndifferenceConfig], items: pd.DataFrame, read_point: int) -> FittedSAE:
    """The SAE at ``cfg.sae`` (SAELens layout), moved to the read point its hook names, evaluated on half
    A's item tokens."""
    cfg, lm = ctx.config, ctx.local
    sae = sae_io.load_sae(ctx.data.use(f"{cfg.sae}/cfg.json").parent)
    hook_rp = sae_io.read_point_from_hook(str(sae.metadata.get("hook_name", "")))
    if sae.W_enc.shape[0] != lm.d_model:
        raise ValueError(f"{cfg.sae}: SAE d_in={sae.W_enc.shape[0]} but {lm.name} has d_model={lm.d_model}")
    training: dict[str, Any] = {"read_point": read_point}
    if hook_rp is not None and hook_rp != read_point:
        read_point = hook_rp
        training["read_point"] = read_point
        training["note"] = f"pretrained SAE at read point {hook_rp}; the repair uses it there"
    training.update({"source": str(cfg.sae), "tokens_trained": None})
    evaluation = evaluate_sae(
        sae, token_residuals(lm, corpus(ctx, items)[0], read_point, progress=ctx.progress)
    )
    training.update(_quality(evaluation))
    return FittedSAE(sae, read_point, training, "pretrained SAE, evaluated on half A's item tokens")


def sae_trained_here(ctx: UnitContext[IndifferenceConfig], items: pd.DataFrame, read_point: int) -> FittedSAE:
    """A TopK SAE trained on every token of half A's items and of the neutral sentences (``corpus``)."""
    cfg, lm = ctx.config, ctx.local
    own, sentences, counts = corpus(ctx, items)
    x_own = token_residuals(lm, own, read_point, progress=ctx.progress)
    x_sentences = token_residuals(lm, sentences, read_point, 8, progress=ctx.progress)
    sae, report = train_sae(
        torch.cat([x_own, x_sentences]),
        d_sae=cfg.sae_width,
        k=cfg.sae_k,
        steps=cfg.sae_steps,
        batch_size=cfg.sae_batch,
        seed=ctx.seed,
        progress=ctx.progress,
    )
    training: dict[str, Any] = {
        "read_point": read_point,
        "source": "trained here (TopK)",
        "tokens_trained": report.tokens_trained,
        "unique_tokens": report.n_unique_tokens,
        "steps": report.steps,
        **{f"corpus_{k}": v for k, v in counts.items()},
        **_quality({"fve": report.fve, "l0": report.l0, "dead_fraction": report.dead_fraction}),
    }
    note = (
        f"demonstration scale: a TopK SAE (width {cfg.sae_width}, k {cfg.sae_k}) trained on "
        f"{report.n_unique_tokens} tokens of half A's items and neutral sentences; held-out 10%"
    )
    return FittedSAE(sae, read_point, training, note)


def _quality(evaluation: dict[str, float]) -> dict[str, float]:
    """The reconstruction numbers the ``sae_training`` table records."""
    return {k: float(v) for k, v in evaluation.items() if k in ("mse", "fve", "l0", "dead_fraction")}


def moral_features(
    acts: np.ndarray, labels: np.ndarray, half_a: np.ndarray, cfg: IndifferenceConfig
) -> MoralFeatures:
    """Features whose activations (``acts``, one row per item) on half A select one class of ``labels``
    (AUROC >= ``min_auroc``), at most ``features_per_class`` per class; when none pass, each class's best
    two, marked ``passed`` False."""
    classes = sorted(set(labels) - {"neutral"})
    selectivity = sae_features.feature_selectivity(acts[half_a], list(labels[half_a]), classes)
    mono = sae_features.monosemanticity(selectivity)
    chosen = sae_features.select_moral_features(
        selectivity, min_auroc=cfg.min_auroc, max_per_class=cfg.features_per_class
    )
    n_passed = len(chosen)
    if n_passed == 0:  # still measure a repair, on each class's best two features, and say so
        chosen = sae_features.select_moral_features(selectivity, min_auroc=0.5, max_per_class=2)
    return MoralFeatures(chosen.assign(passed=n_passed > 0), mono, n_passed, classes)


def top_items_table(chosen: pd.DataFrame, acts: np.ndarray, texts: list[str]) -> pd.DataFrame:
    """The items (``texts``, rows of ``acts``) that activate each chosen feature most, ranked."""
    return pd.DataFrame(
        [
            {"feature": int(f), "class": c, "rank": r + 1, "item": t, "activation": float(a)}
            for f, c in zip(chosen["feature"], chosen["class"], strict=True)
            for r, (t, a) in enumerate(sae_features.top_items(acts, texts, int(f)))
        ]
    )


def sae_tensors(sae: SAE, chosen: pd.DataFrame) -> dict[str, torch.Tensor]:
    """The SAE's weights and the decoder rows of the chosen features (``moral_directions``), as float32."""
    tensors = {name: getattr(sae, name).detach().float().contiguous() for name in SAE_TENSORS}
    directions = sae.W_dec[torch.tensor(chosen["feature"].to_numpy(dtype=np.int64))]
    tensors[MORAL_DIRECTIONS.name] = directions.detach().float().contiguous()
    return tensors


def _sae_metrics(
    cfg: IndifferenceConfig, fitted: FittedSAE, moral: MoralFeatures, n_items: int
) -> dict[str, dict[str, Any]]:
    """``sae_fve``, ``sae_l0`` and ``n_moral_features``."""
    rp, training = fitted.read_point, fitted.training
    threshold = (
        f"features with AUROC >= {cfg.min_auroc} for one foundation x pole on half A "
        f"(at most {cfg.features_per_class} per class)"
    )
    if moral.fallback:
        threshold += "; none, so the repair uses each class's best two below the threshold"
    return {
        "sae_fve": metric(training["fve"], n=n_items, layer=rp, better="higher", note=fitted.fve_note),
        "sae_l0": metric(training["l0"], n=n_items, layer=rp, note="mean active features"),
        "n_moral_features": metric(moral.n_passed, n=len(moral.classes), layer=rp, note=threshold),
    }
