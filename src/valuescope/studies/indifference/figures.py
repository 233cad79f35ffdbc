"""Figures of the ``indifference`` study, drawn from the finished artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from valuescope.studies.indifference.config import DIAGNOSTICS
from valuescope.studies.protocol import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TITLES = {
    "virtue_vice_cosine": "virtue-vice cosine ↓",
    "typicality_spearman": "typicality Spearman ↑",
    "ari_valence": "ARI valence ↑",
    "ari_foundation": "ARI foundation ↑",
    "probe_r2": "probe R² ↑",
}


def figures(result: Result) -> dict[str, Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, Figure] = {}
    models = [m for m in result.models if "layer_curves" in result.per_model[m].tables]
    if models:
        fig, axes = plt.subplots(1, len(DIAGNOSTICS), figsize=(3.1 * len(DIAGNOSTICS), 3.0))
        for k, m in enumerate(models):
            art = result.per_model[m]
            curve = art.tables["layer_curves"]
            curve = curve[curve["half"] == "B"]
            rp = art.data.get("read_point")
            colour = f"C{k}"
            for ax, name in zip(axes, DIAGNOSTICS, strict=True):
                ax.plot(curve["layer"], curve[name], color=colour, label=m)
                ax.plot(curve["layer"], curve[f"{name}_null"], color=colour, ls=":", lw=1)
                if isinstance(rp, int):
                    ax.axvline(rp, color=colour, lw=0.8, alpha=0.5)
                ax.set_title(TITLES[name], fontsize=9)
                ax.set_xlabel("read point", fontsize=8)
        axes[0].legend(fontsize=7, frameon=False)
        fig.tight_layout()
        figs["layer_curves"] = fig
    repaired = [m for m in result.models if "repair" in result.per_model[m].tables]
    if repaired:
        fig, axes = plt.subplots(1, len(DIAGNOSTICS), figsize=(3.1 * len(DIAGNOSTICS), 3.0))
        width = 0.8 / len(repaired)
        for k, m in enumerate(repaired):
            table = result.per_model[m].tables["repair"].set_index("metric")
            for ax, name in zip(axes, DIAGNOSTICS, strict=True):
                row = table.loc[name]
                pos = np.array([0.0, 1.0]) + (k - (len(repaired) - 1) / 2) * width
                ax.bar(pos[0], row["before"], width, color=f"C{k}", alpha=0.5)
                ax.bar(pos[1], row["after"], width, color=f"C{k}", label=m)
                err = [[row["after"] - row["after_ci_low"]], [row["after_ci_high"] - row["after"]]]
                ax.errorbar(pos[1], row["after"], err, color="black", capsize=2)
                ax.vlines(
                    pos[1] + width / 2, row["random_low"], row["random_high"], color="grey", lw=4, alpha=0.6
                )
                ax.set_xticks([0, 1], ["before", "after"], fontsize=8)
                ax.set_title(TITLES[name], fontsize=9)
        axes[0].legend(fontsize=7, frameon=False)
        fig.tight_layout()
        figs["repair"] = fig
    return figs
