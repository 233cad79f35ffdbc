"""Units that did not run: the table of failed or skipped units with their reasons, and the "What did not run"
panel at the top of the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from valuescope.report.formatting import clip, esc, text
from valuescope.report.run_folder import RunFolder


def failure_table(entries: Sequence[Mapping[str, Any]], study_column: bool) -> str:
    """A table of failed or skipped units: (study,) model, step, status and reason."""
    head = "<th>study</th>" if study_column else ""
    rows = []
    for e in entries:
        study = f"<td>{esc(text(e.get('study')))}</td>" if study_column else ""
        kind = text(e.get("error_type"))
        reason = esc(clip(text(e.get("reason"))))
        reason = f"<code>{esc(kind)}</code>: {reason}" if kind else reason
        rows.append(
            f"<tr>{study}<td>{esc(text(e.get('model')))}</td><td>{esc(text(e.get('step')))}</td>"
            f'<td><span class="badge">{esc(text(e.get("status")))}</span></td><td>{reason}</td></tr>'
        )
    return (
        f"<table><thead><tr>{head}<th>model</th><th>step</th><th>status</th><th>reason</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def did_not_run_section(run: RunFolder) -> str:
    """The "What did not run" panel: every failed or skipped unit with its reason (empty when none)."""
    failed = run.failed_units
    if not failed:
        return ""
    return (
        '<section id="did-not-run" class="did-not-run"><h2>What did not run</h2>'
        f'<p class="lead">{len(failed)} unit(s) of this run failed or were skipped because a unit they '
        "need failed. Everything else ran and is reported below; the numbers of these units are absent, "
        "not zero. Each failed unit's folder holds <code>traceback.txt</code>; running the same command "
        "again retries only these units.</p>"
        f"{failure_table(failed, study_column=True)}</section>"
    )
