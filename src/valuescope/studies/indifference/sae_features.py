"""Which SAE features pick out which classes of items: activations, AUROC selectivity, monosemanticity.

Items are whatever rows the caller encodes: one pooled residual per stimulus, or single tokens. A
feature's selectivity for a class is the AUROC of its activation for the class's items against all
other items (ties, such as the many zeros of a sparse feature, count one half), computed for every
feature and class at once from one ranking per feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import Tensor

from valuescope.studies.indifference.sae_model import SAE

__all__ = [
    "feature_activations",
    "feature_selectivity",
    "monosemanticity",
    "select_moral_features",
    "top_items",
]

_CHUNK = 4096


def feature_activations(sae: SAE, X: Tensor | np.ndarray, *, batch_size: int = _CHUNK) -> np.ndarray:
    """(n_items, d_sae) float32 activations of the rows of ``X`` (n_items, d_in), encoded in chunks."""
    xt = torch.as_tensor(X)
    if xt.ndim != 2 or xt.shape[1] != sae.d_in:
        raise ValueError(f"X must be (n_items, {sae.d_in}), got shape {tuple(xt.shape)}")
    out = np.empty((len(xt), sae.d_sae), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(xt), batch_size):
            out[start : start + batch_size] = sae.encode(xt[start : start + batch_size]).numpy()
    return out


def _acts(acts: np.ndarray) -> np.ndarray:
    a = np.asarray(acts)
    if a.ndim != 2:
        raise ValueError(f"acts must be 2-D (n_items, n_features), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"acts has {int((~np.isfinite(a)).sum())} NaN or infinite entries")
    return a


def feature_selectivity(
    acts: np.ndarray, labels: Sequence[str], classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per feature x class: AUROC of the feature's activation for the class's items vs all other items.

    ``acts`` is (n_items, n_features), ``labels`` one class name per item. ``classes`` (default: the
    sorted distinct labels) are the classes scored; items with other labels count only as "other".
    Columns: feature, class, auroc, mean_in, mean_out (mean activation on the class's items and on the
    rest), freq (share of all items where the feature is active, > 0), freq_in (the same within the
    class), n_in, n_out. Rows are ordered by feature, then class.
    """
    a = _acts(acts)
    lab = np.asarray(labels, dtype=object)
    if lab.ndim != 1 or len(lab) != len(a):
        raise ValueError(f"labels must give one class per item ({len(a)}), got {lab.shape[0]} labels")
    names = sorted({str(v) for v in lab}) if classes is None else [str(c) for c in classes]
    if isinstance(classes, str) or len(names) != len(set(names)) or not names:
        raise ValueError(f"classes must be distinct class names, got {classes!r}")
    onehot = np.stack([lab == c for c in names], axis=1).astype(np.float64)  # (n, C)
    n_in = onehot.sum(axis=0)
    n = len(a)
    for c, count in zip(names, n_in, strict=True):
        if count == 0 or count == n:
            side = "no items" if count == 0 else "every item"
            raise ValueError(f"class {c!r} has {side}; AUROC needs items both in and outside the class")
    a64 = a.astype(np.float64)
    ranks = rankdata(a64, axis=0)  # (n, F), ties averaged
    rank_sum = onehot.T @ ranks  # (C, F)
    n_out = n - n_in
    auroc = (rank_sum - (n_in * (n_in + 1) / 2)[:, None]) / (n_in * n_out)[:, None]
    total = a64.sum(axis=0)
    sum_in = onehot.T @ a64
    active = (a > 0).astype(np.float64)
    n_features = a.shape[1]
    return pd.DataFrame(
        {
            "feature": np.repeat(np.arange(n_features), len(names)),
            "class": np.tile(np.asarray(names, dtype=object), n_features),
            "auroc": auroc.T.reshape(-1),
            "mean_in": (sum_in / n_in[:, None]).T.reshape(-1),
            "mean_out": ((total - sum_in) / n_out[:, None]).T.reshape(-1),
            "freq": np.repeat(active.mean(axis=0), len(names)),
            "freq_in": ((onehot.T @ active) / n_in[:, None]).T.reshape(-1),
            "n_in": np.tile(n_in.astype(int), n_features),
            "n_out": np.tile(n_out.astype(int), n_features),
        }
    )


def monosemanticity(selectivity: pd.DataFrame) -> pd.DataFrame:
    """Per feature: its best class and how much it prefers that class over the runner-up.

    best_class / best_auroc and second_class / second_auroc rank the classes by AUROC.
    auroc_margin = max(best - 0.5, 0) - max(second - 0.5, 0): 0.5 for a feature that separates one class
    perfectly and is at chance for every other, 0 when two classes tie. mass_share is the share of the
    feature's total activation (over all items, non-negative activations assumed) that falls on its best
    class's items, NaN for a feature that never fires; base_share is that class's share of the items,
    the value a feature blind to class would get.
    """
    need = {"feature", "class", "auroc", "mean_in", "n_in", "n_out", "mean_out"}
    missing = sorted(need - set(selectivity.columns))
    if missing:
        raise ValueError(f"selectivity lacks columns {missing}; pass the output of feature_selectivity")
    s = selectivity.sort_values(["feature", "auroc"], ascending=[True, False], kind="stable")
    grouped = s.groupby("feature", sort=True)
    best = grouped.nth(0).set_index("feature")
    second = grouped.nth(1).set_index("feature").reindex(best.index)
    mass_in = best["mean_in"] * best["n_in"]
    mass_all = mass_in + best["mean_out"] * best["n_out"]
    out = pd.DataFrame(
        {
            "best_class": best["class"],
            "best_auroc": best["auroc"],
            "second_class": second["class"],
            "second_auroc": second["auroc"],
            "auroc_margin": (best["auroc"] - 0.5).clip(lower=0)
            - (second["auroc"] - 0.5).clip(lower=0).fillna(0.0),
            "mass_share": (mass_in / mass_all.where(mass_all > 0)).astype(float),
            "base_share": best["n_in"] / (best["n_in"] + best["n_out"]),
        }
    )
    return out.rename_axis("feature").reset_index()


def select_moral_features(
    selectivity: pd.DataFrame,
    *,
    min_auroc: float = 0.7,
    max_per_class: int = 8,
    min_freq: float = 0.01,
    exclusive: bool = True,
) -> pd.DataFrame:
    """The most selective features per class: (feature, class, auroc, mean_in, mean_out, freq).

    A feature qualifies for a class when its AUROC is at least ``min_auroc`` and it is active on at
    least ``min_freq`` of all items; each class keeps its ``max_per_class`` highest-AUROC features (ties
    broken by the larger mean_in - mean_out, then the lower feature id). With ``exclusive`` a feature
    is considered only for the class where its AUROC is highest. Rows come class by class.
    """
    if not 0.0 <= min_auroc <= 1.0:
        raise ValueError(f"min_auroc must be in [0, 1], got {min_auroc}")
    if int(max_per_class) != max_per_class or max_per_class < 1:
        raise ValueError(f"max_per_class must be a positive integer, got {max_per_class}")
    s = selectivity
    if exclusive:
        best = s.sort_values(["feature", "auroc"], ascending=[True, False], kind="stable")
        s = best.drop_duplicates("feature", keep="first")
    s = s[(s["auroc"] >= min_auroc) & (s["freq"] >= min_freq)]
    s = s.assign(_gap=s["mean_in"] - s["mean_out"])
    s = s.sort_values(["auroc", "_gap", "feature"], ascending=[False, False, True], kind="stable")
    order = list(dict.fromkeys(selectivity["class"]))
    picked = s.groupby("class", sort=False).head(int(max_per_class))
    picked = picked.assign(_c=picked["class"].map({c: i for i, c in enumerate(order)}))
    picked = picked.sort_values(["_c", "auroc", "_gap", "feature"], ascending=[True, False, False, True])
    cols = ["feature", "class", "auroc", "mean_in", "mean_out", "freq"]
    return picked[cols].reset_index(drop=True)


def top_items(acts: np.ndarray, texts: Sequence[str], feature: int, k: int = 5) -> list[tuple[str, float]]:
    """The (text, activation) of the ``k`` items where ``feature`` fires most, highest first.

    Items where it does not fire (activation <= 0) are left out, so fewer than ``k`` may come back.
    """
    a = _acts(acts)
    if len(texts) != len(a):
        raise ValueError(f"texts has {len(texts)} entries but acts has {len(a)} rows")
    if not 0 <= feature < a.shape[1]:
        raise ValueError(f"feature must be in [0, {a.shape[1]}), got {feature}")
    col = a[:, feature]
    order = np.argsort(-col, kind="stable")[:k]
    return [(str(texts[i]), float(col[i])) for i in order if col[i] > 0]
