"""Figures the report draws itself: the cross-model forest plot (matplotlib, Agg, no pyplot state)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from valuescope.stats.metrics import ALL_MODELS

_MAX_COLS = 3
_LABEL_CHARS = 36


def _num(value: Any) -> float | None:
    """A finite float, or None for anything else (null, strings, NaN, bools)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def plain_label(text: str, limit: int = _LABEL_CHARS) -> str:
    """``text`` on one line, shortened to ``limit`` characters (draw it with ``parse_math=False``)."""
    text = " ".join(str(text).split())
    return text[: limit - 1] + "…" if len(text) > limit else text


def plottable_metrics(study: Mapping[str, Any], models: Sequence[str]) -> list[str]:
    """Metrics (first-seen order) with a numeric estimate for at least one of ``models``."""
    found: list[str] = []
    for model in models:
        entries = study.get(model)
        if not isinstance(entries, Mapping):
            continue
        for metric, entry in entries.items():
            if metric in found or not isinstance(entry, Mapping):
                continue
            if _num(entry.get("estimate")) is not None:
                found.append(str(metric))
    return found


def forest_plot(study: Mapping[str, Any], models: Sequence[str], *, title: str | None = None) -> Figure:
    """One panel per metric: each model's estimate with its CI whiskers, models on the y axis.

    ``study`` is one study's summary, ``{model: {metric: {"estimate", "ci_low", "ci_high", ...}}}``.
    Raises ``ValueError`` when no model has a numeric estimate for any metric.
    """
    models = [m for m in models if m != ALL_MODELS]
    metrics = plottable_metrics(study, models)
    if not metrics:
        raise ValueError("no metric has a numeric estimate for any model; nothing to plot")
    ncols = min(_MAX_COLS, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    panel_h = 0.9 + 0.32 * len(models)
    width, height = 3.3 * ncols + 2.0, panel_h * nrows + 0.6 + (0.4 if title else 0)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    colors = [matplotlib.colormaps["tab10"](i % 10) for i in range(len(models))]
    ys = list(range(len(models)))[::-1]
    labels = [plain_label(m) for m in models]
    # fixed margins in inches (a layout engine measuring every text of dozens of panels is slow): room
    # for the model names on the left, each panel's title above it and its axis label below it
    top, bottom, left, gap_h, gap_w = 0.35 + (0.45 if title else 0), 0.5, 2.0, 0.85, 0.45
    ax_h = (height - top - bottom - gap_h * (nrows - 1)) / nrows
    ax_w = (width - left - 0.15 - gap_w * (ncols - 1)) / ncols
    axes = fig.subplots(
        nrows,
        ncols,
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": 1 - 0.15 / width,
            "top": 1 - top / height,
            "bottom": bottom / height,
            "hspace": gap_h / ax_h,
            "wspace": gap_w / ax_w,
        },
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(metrics):
            ax.set_visible(False)
            continue
        metric = metrics[index]
        better = None
        for model, y, color in zip(models, ys, colors, strict=True):
            entries = study.get(model)
            entry = entries.get(metric) if isinstance(entries, Mapping) else None
            if not isinstance(entry, Mapping):
                continue
            better = better or entry.get("better")
            est = _num(entry.get("estimate"))
            if est is None:
                ax.annotate("no estimate", (0.02, y), xycoords=("axes fraction", "data"), va="center",
                            fontsize=7, color="0.45", style="italic", parse_math=False)  # fmt: skip
                continue
            low, high = _num(entry.get("ci_low")), _num(entry.get("ci_high"))
            xerr = None
            if low is not None and high is not None:
                xerr = [[max(est - low, 0.0)], [max(high - est, 0.0)]]
            ax.errorbar([est], [y], xerr=xerr, fmt="o", color=color, ecolor=color, capsize=3, markersize=5,
                        elinewidth=1.4)  # fmt: skip
        lo, hi = ax.get_xlim()
        if lo < 0 < hi:
            ax.axvline(0.0, color="0.6", linewidth=0.8, linestyle=":", zorder=0)
        arrow = {"higher": "  (↑ better)", "lower": "  (↓ better)"}.get(str(better), "")
        ax.set_title(plain_label(metric, 48) + arrow, fontsize=10.5, loc="left", parse_math=False)
        ax.set_xlabel("estimate (CI)", fontsize=9.5)
        ax.set_yticks(ys, labels if index % ncols == 0 else [""] * len(ys), fontsize=9.5, parse_math=False)
        if index % ncols == 0:
            ax.set_ylabel("model", fontsize=9.5)
        ax.set_ylim(-0.7, len(models) - 0.3)
        ax.tick_params(axis="x", labelsize=9)
        ax.grid(axis="x", color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if title:
        fig.suptitle(
            plain_label(title, 80),
            fontsize=11,
            x=0.01,
            y=1 - 0.08 / height,
            ha="left",
            va="top",
            parse_math=False,
        )
    return fig


def figure_data_uri(fig: Figure, fmt: str = "svg") -> str:
    """``fig`` rendered as a base64 ``data:`` URI (``svg`` or ``png``), deterministic for SVG."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "valuescope", "svg.fonttype": "path"}):
        if fmt == "svg":
            fig.savefig(buffer, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        elif fmt == "png":
            fig.savefig(buffer, format="png", dpi=144)
            mime = "image/png"
        else:
            raise ValueError(f"fmt must be 'svg' or 'png', got {fmt!r}")
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
