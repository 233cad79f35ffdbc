"""Step 3 of ``indifference``: a sparse autoencoder at the chosen read point (trained here on half A's
corpus, or a pretrained one in SAELens' layout) and the moral features it holds."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import torch

from valuescope.data.queries import load_queries
from valuescope.data.reference import reference_texts
from valuescope.readout.extract import read_texts
from valuescope.stats.metrics import metric
from valuescope.studies.indifference import sae_features, sae_io
from valuescope.studies.indifference.diagnostics import halves
from valuescope.studies.indifference.items import carrier_of, config_of, read_items, reading_items
from valuescope.studies.indifference.sae_model import evaluate_sae
from valuescope.studies.indifference.sae_training import train_sae
from valuescope.studies.protocol import Artifacts, UnitContext

WORD = re.compile(r"[a-z][a-z'-]*")
SAE_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec")


def class_labels(items: pd.DataFrame) -> np.ndarray:
    """``foundation_pole`` for moral items (e.g. ``care_vice``), ``neutral`` for neutral ones."""
    kind = items["kind"].astype(str)
    return np.where(kind == "neutral", "neutral", items["foundation"].astype(str) + "_" + kind)


def corpus(ctx: UnitContext, items: pd.DataFrame) -> tuple[list[str], list[str], dict[str, int]]:
    """(half A's items in their carrier, neutral sentences, counts): no text that names a half-B item.
    Every token of the carrier text is trained on, so the SAE sees the context the items are read in."""
    cfg = config_of(ctx)
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


def token_residuals(lm: Any, texts: list[Any], read_point: int, batch_size: int = 16) -> torch.Tensor:
    """Every pooled-text token's residual at ``read_point`` (special tokens and each text's first position
    excluded: models without BOS park massive activations there, which would dominate the SAE); (n, d)."""
    if not texts:
        return torch.zeros(0, lm.d_model)
    out = lm.residuals(texts, layers=[read_point], pool="all", batch_size=batch_size)
    mask = out.mask.clone()
    mask[:, 0] = False  # the first position is an attention sink whether or not it is a BOS token
    return out.values[:, 0][mask]


def sae_step(ctx: UnitContext) -> Artifacts:
    cfg = config_of(ctx)
    lm = ctx.lm
    items = ctx.previous["items"].tables["items"]
    rp = int(ctx.previous["diagnostics"].data["read_point"])
    training: dict[str, Any] = {"read_point": rp}
    if cfg.sae:
        sae = sae_io.load_sae(ctx.data.use(f"{cfg.sae}/cfg.json").parent)
        hook_rp = sae_io.read_point_from_hook(str(sae.metadata.get("hook_name", "")))
        if sae.W_enc.shape[0] != lm.d_model:
            raise ValueError(
                f"{cfg.sae}: SAE d_in={sae.W_enc.shape[0]} but {lm.name} has d_model={lm.d_model}"
            )
        if hook_rp is not None and hook_rp != rp:
            rp = hook_rp
            training["read_point"] = rp
            training["note"] = f"pretrained SAE at read point {hook_rp}; the repair uses it there"
        training.update({"source": str(cfg.sae), "tokens_trained": None})
        fve_note = "pretrained SAE, evaluated on half A's item tokens"
        x_eval = token_residuals(lm, corpus(ctx, items)[0], rp)
        evaluation = evaluate_sae(sae, x_eval)
    else:
        own, sentences, counts = corpus(ctx, items)
        x_tokens = torch.cat([token_residuals(lm, own, rp), token_residuals(lm, sentences, rp, 8)])
        sae, report = train_sae(
            x_tokens,
            d_sae=cfg.sae_width,
            k=cfg.sae_k,
            steps=cfg.sae_steps,
            batch_size=cfg.sae_batch,
            seed=ctx.seed,
            progress=ctx.progress,
        )
        evaluation = {"fve": report.fve, "l0": report.l0, "dead_fraction": report.dead_fraction}
        training.update(
            {
                "source": "trained here (TopK)",
                "tokens_trained": report.tokens_trained,
                "unique_tokens": report.n_unique_tokens,
                "steps": report.steps,
                **{f"corpus_{k}": v for k, v in counts.items()},
            }
        )
        fve_note = (
            f"demonstration scale: a TopK SAE (width {cfg.sae_width}, k {cfg.sae_k}) trained on "
            f"{report.n_unique_tokens} tokens of half A's items and neutral sentences; held-out 10%"
        )
    training.update(
        {k: float(v) for k, v in evaluation.items() if k in ("mse", "fve", "l0", "dead_fraction")}
    )
    x_items = read_items(ctx, items, [rp])[:, 0]
    acts = sae_features.feature_activations(sae, torch.as_tensor(x_items, dtype=torch.float32))
    labels = class_labels(items)
    half_a, _ = halves(items)
    classes = sorted(set(labels) - {"neutral"})
    selectivity = sae_features.feature_selectivity(acts[half_a], list(labels[half_a]), classes)
    mono = sae_features.monosemanticity(selectivity)
    chosen = sae_features.select_moral_features(
        selectivity, min_auroc=cfg.min_auroc, max_per_class=cfg.features_per_class
    )
    n_feat = len(chosen)
    fallback = n_feat == 0
    if fallback:  # still measure a repair, on each class's best two features, and say so
        chosen = sae_features.select_moral_features(selectivity, min_auroc=0.5, max_per_class=2)
    chosen = chosen.assign(passed=not fallback)
    texts = list(items["text"].astype(str))
    tops = [
        {"feature": int(f), "class": c, "rank": r + 1, "item": t, "activation": float(a)}
        for f, c in zip(chosen["feature"], chosen["class"], strict=True)
        for r, (t, a) in enumerate(
            sae_features.top_items(acts[half_a], list(np.asarray(texts)[half_a]), int(f))
        )
    ]
    features = chosen.merge(mono, on="feature", how="left", suffixes=("", "_mono"))
    tensors = {name: getattr(sae, name).detach().float().contiguous() for name in SAE_TENSORS}
    directions = sae.W_dec[torch.tensor(chosen["feature"].to_numpy(dtype=np.int64))]
    tensors["moral_directions"] = directions.detach().float().contiguous()
    metrics = {
        "sae_fve": metric(training["fve"], n=int(x_items.shape[0]), layer=rp, better="higher", note=fve_note),
        "sae_l0": metric(training["l0"], n=int(x_items.shape[0]), layer=rp, note="mean active features"),
        "n_moral_features": metric(
            n_feat,
            n=len(classes),
            layer=rp,
            note=f"features with AUROC >= {cfg.min_auroc} for one foundation x pole on half A "
            f"(at most {cfg.features_per_class} per class)"
            + ("; none, so the repair uses each class's best two below the threshold" if fallback else ""),
        ),
    }
    tables = {
        "sae_training": pd.DataFrame([training]),
        "moral_features": features,
        "feature_top_items": pd.DataFrame(tops),
    }
    return Artifacts(
        tables=tables,
        tensors=tensors,
        metrics=metrics,
        data={"sae_read_point": rp, "fallback_features": fallback},
    )
