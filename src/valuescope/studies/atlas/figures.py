"""Figures of the ``atlas`` study: value profiles around the circle, the agreement matrix, the side-effects
of steering aligned on the steered value, and the models' value geometries side by side."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from valuescope.data.values import LABELS, SCHWARTZ_VALUES
from valuescope.stats.metrics import field_of
from valuescope.studies.atlas.geometry import geometry_matrix, rsa
from valuescope.studies.atlas.metrics import METRICS
from valuescope.studies.atlas.outputs import VALUE_GEOMETRY
from valuescope.studies.protocol import Result, mark_below_gate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

VALUES = list(SCHWARTZ_VALUES)


def figures(result: Result) -> dict[str, Figure]:
    import matplotlib

    matplotlib.use("Agg")
    drawn = {name: draw(result) for name, draw in FIGURES.items()}
    out = {name: fig for name, fig in drawn.items() if fig is not None}
    if result.below_gate(*(s.name for s in METRICS if s.instrument is not None)):
        for name, fig in out.items():
            if name != "value_profiles":  # the profiles are plain self-ratings, no instrument
                mark_below_gate(fig)
    return out


def _with(result: Result, table: str) -> list[str]:
    return [m for m in result.models if table in result.per_model[m].tables]


def value_profiles_figure(result: Result) -> Figure | None:
    """Each model's mean self-rating per value around the circle, with its 95% CI as a band."""
    import matplotlib.pyplot as plt

    models = _with(result, "value_profile")
    if not models:
        return None
    theta = np.linspace(0, 2 * np.pi, len(VALUES), endpoint=False)
    fig = plt.figure(figsize=(6, 5.2))
    ax = fig.add_subplot(projection="polar")
    for m in models:
        t = result.per_model[m].tables["value_profile"].set_index("value").reindex(VALUES)
        closed = np.append(theta, theta[0])
        ax.plot(closed, np.append(t["rating"], t["rating"].iloc[0]), label=m)
        ax.fill_between(closed, np.append(t["ci_low"], t["ci_low"].iloc[0]),
                        np.append(t["ci_high"], t["ci_high"].iloc[0]), alpha=0.2)  # fmt: skip
    ax.set_xticks(theta)
    ax.set_xticklabels([LABELS[v] for v in VALUES], fontsize=8)
    ax.set_ylim(1, 6)
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize=8)
    ax.set_title("Self-rating per value (1-6), Schwartz's circle order", fontsize=10)
    fig.tight_layout()
    return fig


def mtmm_figure(result: Result) -> Figure | None:
    """Per model, the multi-trait multi-method correlation matrix (methods in blocks)."""
    import matplotlib.pyplot as plt

    models = _with(result, "mtmm_matrix")
    if not models:
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4.8), squeeze=False)
    image = None
    for ax, m in zip(axes[0], models, strict=True):
        flat = result.per_model[m].tables["mtmm_matrix"]
        rows = list(dict.fromkeys(zip(flat["method_a"], flat["value_a"], strict=True)))
        wide = flat.pivot_table(index=["method_a", "value_a"], columns=["method_b", "value_b"], values="r")
        wide = wide.reindex(index=pd.MultiIndex.from_tuples(rows), columns=pd.MultiIndex.from_tuples(rows))
        image = ax.imshow(wide.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1)
        methods = list(dict.fromkeys(r[0] for r in rows))
        per = len(rows) // max(len(methods), 1)
        for k in range(1, len(methods)):
            ax.axhline(k * per - 0.5, color="k", lw=0.8)
            ax.axvline(k * per - 0.5, color="k", lw=0.8)
        ticks = [k * per + per / 2 - 0.5 for k in range(len(methods))]
        ax.set_xticks(ticks, methods, fontsize=8)
        ax.set_yticks(ticks, methods, fontsize=8, rotation=90, va="center")
        ax.set_title(f"{m}: values within each method block", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="Pearson r over queries")
    return fig


def sidefx_figure(result: Result) -> Figure | None:
    """Per model: the mean centred change of each value by its step round the circle from the steered
    value, for the value vectors (two strengths), with the fitted cosine's peak (phase) and its CI."""
    import matplotlib.pyplot as plt

    models = _with(result, "sidefx")
    if not models:
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False, sharey=True)
    steps = np.arange(-4, 6)
    for ax, m in zip(axes[0], models, strict=True):
        table = result.per_model[m].tables["sidefx"]
        for strength, style in (("matched", "-o"), ("low", "--o")):
            rows = table[table["strength"] == strength]
            if rows.empty:
                continue
            ax.plot(steps, _aligned(rows), style, label=f"value vector ({strength} strength)")
        ax.axhline(0, color="grey", lw=0.8)
        _mark_phase(ax, result.per_model[m].metrics)
        ax.set_xticks(steps)
        ax.set_xlabel("steps round the circle from the steered value (36° each)")
        ax.set_title(m, fontsize=9)
    axes[0][0].set_ylabel("rating change (centred per edit)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _mark_phase(ax: Axes, metrics: Mapping[str, Any]) -> None:
    """The fitted cosine's peak (``sidefx_phase``, degrees) as a dotted line with its 95% CI shaded, in
    circle steps of 36°. Both are angles, so they wrap onto the axis (-4.5 to 5.5 steps); a CI as wide as
    the circle shades all of it."""
    entry = metrics.get("sidefx_phase")
    entry = entry.get("ungated", entry) if isinstance(entry, Mapping) else None
    phase, low, high = (field_of(entry, k) for k in ("estimate", "ci_low", "ci_high"))
    ax.set_xlim(-4.5, 5.5)
    if phase is None:
        return
    ax.axvline(_wrap_steps(phase / 36), color="k", ls=":", lw=1, label=f"fitted peak {phase:.0f}°")
    if low is None or high is None:
        return
    for i, (a, b) in enumerate(_wrapped_span(low / 36, high / 36)):
        ax.axvspan(a, b, color="k", alpha=0.08, label="its 95% CI" if i == 0 else None)


def _wrap_steps(x: float) -> float:
    """``x`` circle steps, wrapped into [-4.5, 5.5)."""
    return (x + 4.5) % 10 - 4.5


def _wrapped_span(low: float, high: float) -> list[tuple[float, float]]:
    """The interval [low, high] of circle steps on the axis [-4.5, 5.5): one piece, or two where it
    wraps; the whole axis when it is a full turn or more."""
    if high - low >= 10:
        return [(-4.5, 5.5)]
    a = _wrap_steps(low)
    b = a + (high - low)
    return [(a, b)] if b <= 5.5 else [(a, 5.5), (-4.5, b - 10)]


def _aligned(rows: pd.DataFrame) -> np.ndarray:
    """Mean over edits of the centred per-value change, by circle step from the steered value."""
    out = np.zeros(10)
    count = np.zeros(10)
    for rec in rows.to_dict("records"):
        s = VALUES.index(str(rec["steered"]))
        changes = np.array([float(rec[v]) for v in VALUES])
        changes = changes - np.nanmean(changes)
        for v in range(10):
            k = (v - s + 4) % 10  # step -4 .. 5 from the steered value
            if np.isfinite(changes[v]):
                out[k] += changes[v]
                count[k] += 1
    return out / np.maximum(count, 1)


def value_geometry_figure(result: Result) -> Figure | None:
    """The 45 value-vector cosines of one model against another's, per pair of models."""
    import matplotlib.pyplot as plt

    models = [m for m in _with(result, VALUE_GEOMETRY.name)]
    pairs = list(combinations(models, 2))[:3]
    if not pairs:
        return None
    tree = len(models) >= 3
    fig, axes = plt.subplots(1, len(pairs) + tree, figsize=(4.2 * (len(pairs) + tree), 4), squeeze=False)
    i, j = np.triu_indices(10, k=1)
    mats = {m: geometry_matrix(result.per_model[m].tables[VALUE_GEOMETRY.name]) for m in models}
    for ax, (a, b) in zip(axes[0], pairs, strict=False):
        ax.scatter(mats[a][i, j], mats[b][i, j], s=14)
        ax.set_xlabel(f"{a}: cosine of two values' vectors", fontsize=8)
        ax.set_ylabel(f"{b}", fontsize=8)
    if tree:
        from scipy.cluster.hierarchy import dendrogram, linkage
        from scipy.spatial.distance import squareform

        n = len(models)
        distance = np.zeros((n, n))
        for x, y in combinations(range(n), 2):
            distance[x, y] = distance[y, x] = 1 - rsa(mats[models[x]], mats[models[y]])
        ax = axes[0][-1]
        dendrogram(linkage(squareform(np.nan_to_num(distance, nan=1.0)), "average"), labels=models, ax=ax,
                   orientation="right")  # fmt: skip
        ax.set_xlabel("1 - Spearman of value-vector cosines", fontsize=8)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[Result], Figure | None]] = {
    "value_profiles": value_profiles_figure,
    "mtmm": mtmm_figure,
    "sidefx": sidefx_figure,
    "value_geometry": value_geometry_figure,
}
