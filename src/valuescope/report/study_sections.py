"""The per-study parts of the page: the overview of every study's headline numbers, and one section per study
with its findings, metrics, tables, figures, sample generations, saved tensors and configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from valuescope.report.failures import failure_table
from valuescope.report.figures import figure_block
from valuescope.report.formatting import as_dict, as_list, clip, esc, text
from valuescope.report.run_folder import RunFolder
from valuescope.report.study_outputs import (
    SAMPLE_GENERATIONS,
    csv_table_block,
    generations_block,
    tensors_block,
)
from valuescope.report.tables import metric_table
from valuescope.stats.metrics import ALL_MODELS

_PROFILES = ("quick", "demo", "full")


def overview_section(run: RunFolder, anchors: Mapping[str, str]) -> str:
    """The overview: every study's headline metrics, linked to its section."""
    parts = [
        '<section id="overview"><h2>Overview</h2><p class="lead">Headline numbers per study: '
        "estimate [CI low, CI high], then p, n and layer where recorded. ↑ / ↓ mark the better direction; "
        "— is a missing estimate.</p>"
    ]
    for study in run.studies:
        summary = run.study_summary(study)
        parts.append(f'<h3><a href="#{anchors[study]}">{esc(run.title(study))}</a></h3>')
        table = metric_table(summary, run.models)
        across = metric_table(summary, [ALL_MODELS])
        if not table and not across:
            parts.append('<p class="notice">No headline metrics recorded for this study.</p>')
        parts.append(table + across)
    return "".join(parts) + "</section>"


def study_section(run: RunFolder, study: str, anchor: str) -> str:
    """One study's section: description, failures, findings, metrics, tables, figures, samples, config."""
    info = run.study_info(study)
    profile = text(info.get("profile"))
    badge = ""
    if profile:
        cls = f" {profile}" if profile in _PROFILES else ""
        badge = f'<span class="badge{cls}">{esc(profile)}</span>'
    parts = [
        f'<section class="study" id="{anchor}"><p class="eyebrow">Study</p>'
        f"<h2>{esc(run.title(study))}{badge}</h2>"
    ]
    if run.title(study) != study:
        parts.append(f'<p class="file">{esc(study)}</p>')
    if not info:
        parts.append('<p class="notice">This study is not described in manifest.json.</p>')
    failures = run.study_failures(study)
    if failures:
        parts.append(
            '<div class="notice did-not-run"><strong>Part of this study did not run.</strong> The metrics, '
            "tables and findings of these units are missing below:"
            f"{failure_table(failures, study_column=False)}</div>"
        )
    if info.get("description"):
        parts.append(f'<p class="description">{esc(text(info.get("description")))}</p>')
    if info.get("reference"):
        parts.append(f'<p class="reference">{esc(text(info.get("reference")))}</p>')
    findings = as_dict(info.get("findings"))
    if findings:
        parts.append("<h3>Findings</h3>")
        for model in [*run.models, *[m for m in findings if m not in run.models]]:
            sentences = [text(x) for x in as_list(findings.get(model)) if text(x)]
            if sentences:
                items = "".join(f"<li>{esc(clip(x))}</li>" for x in sentences)
                parts.append(f'<div class="findings"><h4>{esc(model)}</h4><ul>{items}</ul></div>')
    summary = run.study_summary(study)
    descriptions = as_dict(info.get("metrics"))
    metrics = metric_table(summary, run.models, descriptions) + metric_table(
        summary, [ALL_MODELS], descriptions
    )
    parts.append("<h3>Headline metrics</h3>")
    parts.append(metrics or '<p class="notice">No headline metrics recorded.</p>')
    tables = [csv_table_block(run, t) for t in run.outputs(study, "tables")]
    if tables:
        parts.append("<h3>Tables</h3>" + "".join(tables))
    figures = [figure_block(run, f) for f in run.outputs(study, "figures")]
    if figures:
        parts.append("<h3>Figures</h3>" + "".join(figures))
    generations = generations_block(run, study)
    if generations:
        note = f'<p class="muted small">Up to {SAMPLE_GENERATIONS} per file, verbatim.</p>'
        parts.append(f"<h3>Sample generations</h3>{note}{generations}")
    tensors = tensors_block(run, study)
    if tensors:
        parts.append("<h3>Saved tensors</h3>" + tensors)
    if "config" in info:
        config = json.dumps(info.get("config"), indent=2, ensure_ascii=False, default=str)
        parts.append(
            f'<details><summary>Configuration</summary><div class="body"><pre class="config">{esc(config)}'
            "</pre></div></details>"
        )
    return "".join(parts) + "</section>"
