"""Figures of the entanglement study, drawn from the run's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from valuescope.studies.entanglement.config import DOMAINS
from valuescope.studies.protocol import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def make_figures(result: Result) -> dict[str, Figure]:
    """Transfer AUROC of the moral direction per read point; entanglement before and after the repair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, Figure] = {}
    models = [m for m in result.models if "layers" in result.per_model[m].tables]
    if models:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
        panels = (
            ("moral_to_valence_grammar", "good vs bad (grammar items)"),
            ("moral_to_grammar", "→ grammatical vs not"),
            ("moral_to_economic", "→ good vs bad deal"),
        )
        for ax, (key, title) in zip(axes, panels, strict=True):
            for m in models:
                t = result.per_model[m].tables["layers"]
                (line,) = ax.plot(t["read_point"], t[f"auroc_{key}"], marker="o", ms=3, label=m)
                ax.fill_between(
                    t["read_point"],
                    t[f"auroc_{key}_low"],
                    t[f"auroc_{key}_high"],
                    alpha=0.2,
                    color=line.get_color(),
                )
            ax.axhline(0.5, color="grey", lw=1, ls="--")
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("read point")
        axes[0].set_ylabel("AUROC of the moral direction")
        axes[-1].legend(fontsize=8, frameon=False)
        fig.tight_layout()
        figs["transfer_by_layer"] = fig
    repaired = [m for m in result.models if "repair" in result.per_model[m].tables]
    if repaired:
        fig, axes = plt.subplots(1, len(DOMAINS), figsize=(4 + 1.5 * len(repaired), 3.6))
        for ax, domain in zip(np.atleast_1d(axes), DOMAINS, strict=True):
            for i, m in enumerate(repaired):
                row = result.per_model[m].tables["repair"].set_index("domain").loc[domain]
                ax.fill_between(
                    [i - 0.3, i + 0.3],
                    row["random_low"],
                    row["random_high"],
                    color="grey",
                    alpha=0.3,
                    label="random 95% range" if i == 0 else None,
                )
                ax.plot([i - 0.15], [row["before"]], "o", color="C0", label="before" if i == 0 else None)
                ax.plot([i + 0.15], [row["after"]], "s", color="C3", label="after repair" if i == 0 else None)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(range(len(repaired)), repaired, rotation=15, fontsize=8)
            ax.set_title(f"{domain} entanglement (d)", fontsize=10)
        np.atleast_1d(axes)[0].legend(fontsize=8, frameon=False)
        fig.tight_layout()
        figs["repair"] = fig
    return figs
