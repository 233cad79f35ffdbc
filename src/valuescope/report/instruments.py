"""The "Instruments" section: each text-to-value instrument, the human-labelled data it was validated on,
its AUROC with 95% CI per gated row and failing dimension, its gate and pass/fail."""

from __future__ import annotations

import csv
import io
import json

from valuescope.instruments.validity import RUN_STATUS, RUN_TABLE
from valuescope.report.formatting import esc, finite_number, fmt_num, text
from valuescope.report.run_folder import RunFolder, file_inside
from valuescope.report.tables import sortable_table

ANCHOR = "instruments"


def _status(run: RunFolder) -> dict[str, str]:
    path = file_inside(run.root, RUN_STATUS)
    if path is None:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): text(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _rows(run: RunFolder) -> list[dict[str, str]]:
    path = file_inside(run.root, RUN_TABLE)
    if path is None:
        return []
    try:
        return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, ValueError, csv.Error):
        return []


def _shipped_rows() -> list[dict[str, str]]:
    """The shipped heads' validity table, measured when they were trained."""
    from valuescope.instruments.validation import shipped_validity

    table = shipped_validity().astype(str).replace({"<NA>": "", "nan": ""})
    return [{str(k): str(v) for k, v in row.items()} for row in table.to_dict("records")]


def _cell(value: str) -> tuple[str, float | None]:
    try:
        number = finite_number(float(value))
    except ValueError:
        number = None
    return (fmt_num(number) if number is not None else "—", number)


def instruments_section(run: RunFolder) -> str:
    """The section; it says plainly when the instruments were not validated in this run, and why."""
    status = _status(run)
    rows = _rows(run)
    head = f'<section id="{ANCHOR}"><h2>Instruments</h2>'
    intro = (
        "<p>How far each text-to-value score can be trusted: agreement with human labels it was not "
        "trained on (AUROC; for the judge, accuracy and consistency over both orders; 95% bootstrap CI "
        "over the sampling unit). A finding that rests on an "
        "instrument below its gate is not evidence about the model: the summary and the findings show it "
        "as below its gate, its computed figures kept beside it but not read as a result.</p>"
    )
    if not rows:
        reason = status.get("reason") or "this run recorded no validity table"
        intro += (
            f'<p class="notice">Not validated in this run: {esc(reason)}. The verdicts below were measured '
            "when the shipped heads were trained (<code>valuescope instruments validate</code> measures "
            "them again).</p>"
        )
        rows = _shipped_rows()
    shown = [r for r in rows if r.get("gate") or r.get("passed", "").lower() == "false"]
    table_rows = [
        [
            (text(r.get("instrument")), None),
            (text(r.get("dataset")), None),
            (text(r.get("dimension")), None),
            (text(r.get("metric")), None),
            _cell(r.get("estimate", "")),
            (f"[{_cell(r.get('ci_low', ''))[0]}, {_cell(r.get('ci_high', ''))[0]}]", None),
            _cell(r.get("n", "")),
            (text(r.get("gate")) or "—", None),
            (_verdict(r.get("passed", "")), None),
        ]
        for r in shown
    ]
    headers = ["instrument", "dataset", "dimension", "metric", "estimate", "95% CI", "n", "gate", "verdict"]
    numeric = [False, False, False, False, True, False, True, False, False]
    failing = sorted({(text(r["instrument"]), text(r["dataset"])) for r in rows if _gate_failed(r)})
    verdict = (
        "<p>Below their validity gate: "
        + esc(", ".join(f"{i} on {d}" for i, d in failing))
        + ". Read results that rest on them as unvalidated.</p>"
        if failing
        else "<p>Every instrument passes its gate.</p>"
    )
    return head + intro + verdict + sortable_table(headers, table_rows, numeric) + "</section>"


def _verdict(passed: str) -> str:
    return {"true": "pass", "false": "below gate"}.get(passed.strip().lower(), "—")


def _gate_failed(row: dict[str, str]) -> bool:
    return bool(row.get("gate")) and row.get("passed", "").strip().lower() == "false"
