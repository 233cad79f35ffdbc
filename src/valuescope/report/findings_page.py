"""The page the report opens with: per study, what was found, in a few sentences per model, beside the one
figure that shows it (the study's ``headline_figure``). Sentences that rest on an instrument below its
validity gate are set apart as not results."""

from __future__ import annotations

from collections.abc import Mapping

from valuescope.report.figures import figure_block
from valuescope.report.formatting import as_dict, as_list, clip, esc, text
from valuescope.report.run_folder import RunFolder, model_label

SHOWN = 4
"""Sentences per study and model on this page; the study's section has them all."""
NOT_A_RESULT = "not reported as a result"


def _sentences(findings: Mapping[str, object], model: str) -> list[str]:
    return [text(x) for x in as_list(findings.get(model)) if text(x)]


def findings_section(run: RunFolder, anchors: Mapping[str, str]) -> str:
    """The findings page: each study's findings per model (at most :data:`SHOWN`) and its figure."""
    parts = [
        '<section id="findings"><h2>What was found</h2><p class="lead">Per study, what each model shows, '
        "with its number and 95% interval and whether its controls and instruments held; the figure beside "
        "it is the one that shows it. Findings that rest on an instrument below its validity gate are named "
        "in grey and not reported. The study sections below have every finding, metric and table.</p>"
    ]
    for study in run.studies:
        info = run.study_info(study)
        findings = as_dict(info.get("findings"))
        blocks = []
        for model in [*run.models, *[m for m in findings if m not in run.models]]:
            sentences = _sentences(findings, model)
            if not sentences:
                continue
            results = [x for x in sentences if NOT_A_RESULT not in x]
            gated = [x.split(":", 1)[0] for x in sentences if NOT_A_RESULT in x]
            items = "".join(f'<li class="result">{esc(clip(x, 1200))}</li>' for x in results[:SHOWN])
            if gated:
                items += (
                    f'<li class="gated">Not reported as results, their instrument being below its validity '
                    f"gate (see Instruments): {esc(', '.join(gated))}.</li>"
                )
            more = len(results) - SHOWN
            tail = (
                f'<p class="muted small"><a href="#{anchors[study]}">{more} more in the study section</a></p>'
                if more > 0
                else ""
            )
            blocks.append(f"<h4>{esc(model_label(model))}</h4><ul>{items}</ul>{tail}")
        figure = _headline(run, study, text(info.get("headline_figure")))
        title = f'<h3><a href="#{anchors[study]}">{esc(run.title(study))}</a></h3>'
        if not blocks:
            blocks = ['<p class="notice">No findings recorded for this study.</p>']
        parts.append(
            f'<div class="finding-row">{title}<div class="finding-grid"><div class="finding-text">'
            f'{"".join(blocks)}</div><div class="finding-figure">{figure}</div></div></div>'
        )
    return "".join(parts) + "</section>"


def _headline(run: RunFolder, study: str, name: str) -> str:
    if not name:
        return ""
    for entry in run.outputs(study, "figures"):
        if text(entry.get("name")) == name:
            return figure_block(run, entry)
    return ""
