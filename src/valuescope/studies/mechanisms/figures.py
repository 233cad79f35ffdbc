"""Figures of the ``mechanisms`` study, drawn from the finished artifacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from valuescope.data.values import LABELS, SCHWARTZ_VALUES
from valuescope.studies.mechanisms.metrics import METRICS
from valuescope.studies.protocol import Result, mark_below_gate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STEER_ORDER = ("intrinsic", "prompted", "shared", "intrinsic_only", "prompted_only", "neurons", "random")


def figures(result: Result) -> dict[str, Figure]:
    """Every figure whose tables some model has: vector cosines, circumplex, steering shifts."""
    import matplotlib

    matplotlib.use("Agg")
    drawn = {name: draw(result) for name, draw in FIGURES.items()}
    out = {name: fig for name, fig in drawn.items() if fig is not None}
    if result.below_gate(*(s.name for s in METRICS if s.instrument is not None)):
        for fig in out.values():
            mark_below_gate(fig)
    return out


def _models_with(result: Result, table: str) -> list[str]:
    return [m for m in result.models if table in result.per_model[m].tables]


def vector_cosines_figure(result: Result) -> Figure | None:
    """Per value and model: the intrinsic-prompted cosine (bar), its reliability ceiling (tick) and the
    shuffled-label 95% range (grey)."""
    import matplotlib.pyplot as plt

    models = _models_with(result, "vector_cosines")
    if not models:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(models)
    x = np.arange(len(SCHWARTZ_VALUES))
    for k, m in enumerate(models):
        t = result.per_model[m].tables["vector_cosines"]
        pos = x + (k - (len(models) - 1) / 2) * width
        ax.bar(pos, t["cosine"], width, label=m)
        ax.scatter(pos, t["reliability_ceiling"], marker="_", s=200, color="black", zorder=3)
        ax.vlines(pos, t["null_low"], t["null_high"], color="grey", lw=4, alpha=0.5)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [LABELS[v] for v in SCHWARTZ_VALUES], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("cos(intrinsic, prompted)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def circumplex_figure(result: Result) -> Figure | None:
    """One panel per model (and one for the humans, when their data was there): the values placed by
    classical MDS, joined in Schwartz's circular order."""
    import matplotlib.pyplot as plt

    models = _models_with(result, "circumplex_coordinates")
    if not models:
        return None
    panels = [(m, "model") for m in models]
    first = result.per_model[models[0]].tables["circumplex_coordinates"]
    if (first["source"] == "human").any():
        panels.append((models[0], "human"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False)
    for ax, (m, source) in zip(axes[0], panels, strict=True):
        t = result.per_model[m].tables["circumplex_coordinates"]
        t = t[t["source"] == source].set_index("value").reindex(list(SCHWARTZ_VALUES))
        xy = t[["x", "y"]].to_numpy()
        ring = np.vstack([xy, xy[:1]])
        ax.plot(ring[:, 0], ring[:, 1], color="grey", lw=0.8)
        colours = plt.cm.hsv(np.linspace(0, 1, len(SCHWARTZ_VALUES), endpoint=False))
        ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=30, zorder=3)
        for value, (px, py) in zip(SCHWARTZ_VALUES, xy, strict=True):
            ax.annotate(LABELS[value], (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
        fit = result.per_model[m].metrics.get("circumplex_fit_theory", {}).get("estimate")
        title = (
            "human PVQ (ValuePortrait)"
            if source == "human"
            else f"{m}" + (f" (fit {fit:.2f})" if isinstance(fit, float) else "")
        )
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def steering_figure(result: Result) -> Figure | None:
    """Per kind of edit and model: the steering shift (mean over the steered values) with its 95% CI."""
    import matplotlib.pyplot as plt

    models = _models_with(result, "steering")
    if not models:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(models)
    for k, m in enumerate(models):
        met = {k: v.get("ungated", v) for k, v in result.per_model[m].metrics.items()}  # marked if gated
        kinds = [kind for kind in STEER_ORDER if f"steering_shift_{kind}" in met]
        est = np.array([met[f"steering_shift_{kind}"]["estimate"] for kind in kinds], dtype=float)
        lo = np.array([met[f"steering_shift_{kind}"]["ci_low"] for kind in kinds], dtype=float)
        hi = np.array([met[f"steering_shift_{kind}"]["ci_high"] for kind in kinds], dtype=float)
        pos = np.arange(len(kinds)) + (k - (len(models) - 1) / 2) * width
        ax.bar(pos, est, width, yerr=[est - lo, hi - est], capsize=2, label=m)
        ax.set_xticks(np.arange(len(kinds)), [kind.replace("_", "-") for kind in kinds], fontsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("steering shift (rating points)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


RATIO_CLIP = 3.0
"""Steering ratios near a zero English gain explode; the figure shows them within +/- this."""
DOSE_STYLE = {"intrinsic": "C0", "prompted": "C1", "shared": "C2", "random": "grey"}


def dose_response_figure(result: Result) -> Figure | None:
    """One panel per model: the steered value's rating gain against damage, per kind of vector, with
    95% CI bands."""
    import matplotlib.pyplot as plt

    models = _models_with(result, "dose_response")
    if not models:
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models, strict=True):
        t = result.per_model[m].tables["dose_response"]
        for kind, colour in DOSE_STYLE.items():
            c = t[t["kind"] == kind].sort_values("level_kl")
            x = np.concatenate([[0.0], c["level_kl"].to_numpy(float)])
            y = np.concatenate([[0.0], c["gain"].to_numpy(float)])
            ax.plot(x, y, marker="o", ms=3, color=colour, label=kind, ls="--" if kind == "random" else "-")
            ax.fill_between(
                c["level_kl"].to_numpy(float),
                c["ci_low"].to_numpy(float),
                c["ci_high"].to_numpy(float),
                color=colour,
                alpha=0.15,
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("damage: mean KL on neutral text")
    axes[0][0].set_ylabel("rating gain of the steered value")
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def crosslingual_figure(result: Result) -> Figure | None:
    """Two panels: probe transfer (AUROC of the English value vectors) and steering transfer (gain
    relative to English) per language and model, with 95% CIs; English is the reference line."""
    import matplotlib.pyplot as plt

    models = _models_with(result, "crosslingual")
    if not models:
        return None
    fig, (probe, steer) = plt.subplots(1, 2, figsize=(9, 3.4))
    width = 0.8 / len(models)
    for k, m in enumerate(models):
        t = result.per_model[m].tables["crosslingual"]
        order = [lang for lang in ("en", "zh", "es", "fr", "ko") if lang in set(t["language"])]
        p = t[t["kind"] == "pooled"].set_index("language").reindex(order).dropna(how="all")
        s = t[t["kind"] == "prompted"].set_index("language").reindex(order[1:]).dropna(how="all")
        for ax, rows, col, low, high in (
            (probe, p, "probe_auroc", "probe_low", "probe_high"),
            (steer, s, "steering_ratio", "steering_ratio_low", "steering_ratio_high"),
        ):
            est = rows[col].to_numpy(float)
            lo, hi = rows[low].to_numpy(float), rows[high].to_numpy(float)
            pos = np.arange(len(rows)) + (k - (len(models) - 1) / 2) * width
            err = np.nan_to_num(np.vstack([est - lo, hi - est]), nan=0.0)
            ax.bar(pos, est, width, yerr=err, capsize=2, label=m)
            ax.set_xticks(np.arange(len(rows)), list(rows.index))
        if "en" in p.index:
            probe.axhline(float(p["probe_auroc"].loc["en"]), color="black", lw=0.8, ls="--")
    probe.axhline(0.5, color="grey", lw=0.8)
    low, high = steer.get_ylim()
    steer.set_ylim(max(low, -RATIO_CLIP), min(high, RATIO_CLIP))
    steer.set_title(f"(intervals clipped at +/-{RATIO_CLIP:g})", fontsize=8)
    probe.set_ylim(0.3, 1.0)
    steer.axhline(1.0, color="black", lw=0.8, ls="--")
    steer.axhline(0.0, color="grey", lw=0.8)
    probe.set_ylabel("probe AUROC (English vectors)")
    steer.set_ylabel("steering gain / English gain")
    probe.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[Result], Figure | None]] = {
    "vector_cosines": vector_cosines_figure,
    "circumplex": circumplex_figure,
    "steering": steering_figure,
    "dose_response": dose_response_figure,
    "crosslingual": crosslingual_figure,
}
"""Each figure by name, drawn from the finished result (None when no model has its tables)."""
