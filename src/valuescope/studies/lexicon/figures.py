"""Figures of the ``lexicon`` study, drawn from the finished artifacts; each only when its tables exist."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from valuescope.data.valuelex import DIMENSION_OF, DIMENSIONS, SUBDIMENSIONS
from valuescope.stats.metrics import ALL_MODELS
from valuescope.studies.protocol import Result, mark_below_gate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

N_TOP_TERMS = 15
FACTOR_COLUMN = re.compile(r"^F(\d+)$")
GROUP_GAP = 0.6
"""Extra space on the x axis between the subdimensions of two dimensions."""


def _table(result: Result, model: str, name: str) -> pd.DataFrame | None:
    """Table ``name`` of ``model`` when it exists and has rows, else None."""
    art = result.per_model.get(model)
    table = None if art is None else art.tables.get(name)
    return table if isinstance(table, pd.DataFrame) and len(table) else None


def factor_columns(table: pd.DataFrame) -> list[str]:
    """The factor columns (F1, F2, ...) of a loadings table, in factor order."""
    found = [(int(m.group(1)), str(c)) for c in table.columns if (m := FACTOR_COLUMN.match(str(c)))]
    return [c for _, c in sorted(found)]


def _sub_positions() -> dict[str, float]:
    """x position of every subdimension, with a gap between dimensions."""
    dims = list(DIMENSIONS)
    return {s: i + GROUP_GAP * dims.index(DIMENSION_OF[s]) for i, s in enumerate(SUBDIMENSIONS)}


def _profiles(plt: Any, result: Result) -> Figure | None:
    profiles = {m: t for m in result.models if (t := _table(result, m, "profile")) is not None}
    if not profiles:
        return None
    pos = _sub_positions()
    width = 0.8 / len(profiles)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(SUBDIMENSIONS) + 0.3 * len(profiles)), 3.4))
    for k, (model, table) in enumerate(profiles.items()):
        t = table.drop_duplicates("subdimension").set_index("subdimension").reindex(list(SUBDIMENSIONS))
        t = t[t["percent"].notna()]
        if t.empty:
            continue
        x = np.array([pos[s] for s in t.index]) + (k - (len(profiles) - 1) / 2) * width
        y = t["percent"].to_numpy(dtype=float)
        ax.bar(x, y, width, color=f"C{k}", label=model)
        if {"ci_low", "ci_high"} <= set(t.columns):
            lo = np.clip(y - t["ci_low"].to_numpy(dtype=float), 0, None)
            hi = np.clip(t["ci_high"].to_numpy(dtype=float) - y, 0, None)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.errorbar(x[ok], y[ok], [lo[ok], hi[ok]], fmt="none", ecolor="black", capsize=2, lw=0.8)
    ax.set_xticks([pos[s] for s in SUBDIMENSIONS], [s.replace("_", "-") for s in SUBDIMENSIONS], fontsize=8)
    for dim, subs in DIMENSIONS.items():
        centre = float(np.mean([pos[s] for s in subs]))
        ax.text(centre, -0.16, dim.capitalize(), transform=ax.get_xaxis_transform(), ha="center", fontsize=9)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of completions above threshold", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _family_shares(result: Result) -> dict[str, pd.DataFrame]:
    """Per model, its term families by share of its responses (from ``_all``'s ``family_counts``)."""
    table = _table(result, ALL_MODELS, "family_counts")
    if table is None or "family" not in table.columns:
        return {}
    out = {}
    for m in result.models:
        column = f"share_{m}"
        if column in table.columns:
            top = table[["family", column]].sort_values(column, ascending=False, kind="stable")
            out[m] = top.rename(columns={column: "share"})
    return out


def _top_terms(plt: Any, result: Result) -> Figure | None:
    families = _family_shares(result)
    if families:
        fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 3.8), squeeze=False)
        for ax, (model, table) in zip(axes[0], families.items(), strict=True):
            top = table.head(N_TOP_TERMS).iloc[::-1]
            ax.barh(np.arange(len(top)), 100 * top["share"].to_numpy(dtype=float), color="C0")
            ax.set_yticks(np.arange(len(top)), [str(t) for t in top["family"]], fontsize=7)
            ax.set_xlabel("% of responses naming the term family", fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_title(model, fontsize=9)
        fig.tight_layout()
        return fig
    counts = {
        m: t
        for m in result.models
        if (t := _table(result, m, "term_counts")) is not None and "term" in t.columns
    }
    if not counts:
        return None
    fig, axes = plt.subplots(1, len(counts), figsize=(3.2 * len(counts), 3.8), squeeze=False)
    for ax, (model, table) in zip(axes[0], counts.items(), strict=True):
        column = "responses" if "responses" in table.columns else "count"
        top = table.head(N_TOP_TERMS).iloc[::-1]
        values = top[column].to_numpy(dtype=float)
        responses = _table(result, model, "responses")
        if responses is not None:
            values = 100 * values / len(responses)
            label = "% of responses naming the term"
        else:
            label = f"{'responses' if column == 'responses' else 'mentions'} (raw counts)"
        ax.barh(np.arange(len(top)), values, color="C0")
        ax.set_yticks(np.arange(len(top)), [str(t) for t in top["term"]], fontsize=7)
        ax.set_xlabel(label, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(model, fontsize=9)
    fig.tight_layout()
    return fig


def _loadings(plt: Any, result: Result) -> Figure | None:
    table = _table(result, ALL_MODELS, "loadings")
    if table is None:
        return None
    columns = factor_columns(table)
    if not columns:
        return None
    terms = [str(t) for t in (table["term"] if "term" in table.columns else table.index)]
    values = table[columns].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(2.2 + 0.7 * len(columns), 1.0 + 0.24 * len(terms)))
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            colour = "white" if abs(v) > 0.6 else "black"
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(np.arange(len(columns)), columns, fontsize=8)
    ax.set_yticks(np.arange(len(terms)), terms, fontsize=7)
    cbar = fig.colorbar(image, ax=ax, fraction=0.08, pad=0.04)
    cbar.ax.tick_params(labelsize=7)
    cbar.set_label("loading", fontsize=8)
    fig.tight_layout()
    return fig


def _spread(n: int) -> np.ndarray:
    """n y positions evenly spaced over [0, 1], top first (0.5 for a single one)."""
    return np.linspace(1, 0, n) if n > 1 else np.array([0.5])


def _taxonomy_tree(plt: Any, result: Result) -> Figure | None:
    table = _table(result, ALL_MODELS, "taxonomy_tree")
    if table is None or not {"name", "subdimension"} <= set(table.columns):
        return None
    order = {s: i for i, s in enumerate(SUBDIMENSIONS)}
    rows = table.assign(
        _sub=table["subdimension"].map(order).fillna(len(order)),
        _cos=pd.to_numeric(table.get("cosine", pd.Series(np.nan, index=table.index)), errors="coerce"),
    ).sort_values(["_sub", "_cos"], ascending=[True, False])
    sub_y = dict(zip(SUBDIMENSIONS, _spread(len(SUBDIMENSIONS)), strict=True))
    dim_y = {d: float(np.mean([sub_y[s] for s in subs])) for d, subs in DIMENSIONS.items()}
    cluster_y = _spread(len(rows))
    fig, ax = plt.subplots(figsize=(7.5, max(3.0, 0.32 * max(len(rows), len(SUBDIMENSIONS)) + 0.8)))
    used = set(rows["subdimension"])
    for sub, y in sub_y.items():
        dim = DIMENSION_OF[sub]
        colour = "black" if sub in used else "grey"
        ax.plot([0, 1], [dim_y[dim], y], color="grey", lw=1, zorder=1)
        ax.text(
            1,
            y,
            sub.replace("_", "-"),
            ha="center",
            va="center",
            fontsize=8,
            color=colour,
            zorder=3,
            bbox={"boxstyle": "round", "fc": "white", "ec": colour, "lw": 0.6},
        )
    for dim, y in dim_y.items():
        ax.text(
            0,
            y,
            dim.capitalize(),
            ha="center",
            va="center",
            fontsize=9,
            weight="bold",
            zorder=3,
            bbox={"boxstyle": "round", "fc": "white", "ec": "black", "lw": 0.8},
        )
    for y, row in zip(cluster_y, rows.to_dict("records"), strict=True):
        size = row.get("n_terms")
        label = str(row["name"]) + (
            f" ({int(size)})" if isinstance(size, int | float) and np.isfinite(size) else ""
        )
        ax.text(2, y, label, ha="left", va="center", fontsize=7, zorder=3)
        cos = row["_cos"]
        if row["subdimension"] in sub_y and np.isfinite(cos):
            y0 = sub_y[row["subdimension"]]
            ax.plot([1, 1.98], [y0, y], color="C0", lw=max(0.3, 8 * abs(float(cos))), alpha=0.7, zorder=2)
            ax.text(
                1.75, 0.25 * y0 + 0.75 * y, f"{cos:.2f}", ha="center", va="bottom", fontsize=7, color="C0"
            )
    ax.set_xlim(-0.4, 3.3)
    ax.set_ylim(-0.08, 1.08)
    ax.axis("off")
    fig.tight_layout()
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """Profiles per subdimension, each model's most frequent terms, the factor loadings and the tree of
    clusters under ValueLex's dimensions and subdimensions; a figure whose tables are absent is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = _profiles(plt, result)
    if profiles is not None and result.below_gate(*(f"profile_{s}" for s in SUBDIMENSIONS)):
        mark_below_gate(profiles)
    drawn = {
        "profiles": profiles,
        "top_terms": _top_terms(plt, result),
        "loadings": _loadings(plt, result),
        "taxonomy_tree": _taxonomy_tree(plt, result),
    }
    return {name: fig for name, fig in drawn.items() if fig is not None}
