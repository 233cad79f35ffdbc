"""A study's declared outputs other than figures: its CSV tables (first rows, sortable), a few verbatim sample
generations per JSONL file, and the list of saved tensor files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.report.formatting import as_list, clip, esc, finite_number, fmt_num, text
from valuescope.report.run_folder import RunFolder, file_inside, model_label
from valuescope.report.tables import sortable_table

MAX_TABLE_ROWS = 200
SAMPLE_GENERATIONS = 3
_FIRST_FIELDS = ("prompt", "response")


def csv_table_block(run: RunFolder, entry: Mapping[str, Any]) -> str:
    """One declared CSV table: its title, caption and first ``MAX_TABLE_ROWS`` rows as a sortable table."""
    name = text(entry.get("file"))
    title = text(entry.get("title")) or text(entry.get("name")) or name
    parts = [f"<h4>{esc(title)}</h4>"]
    if entry.get("caption"):
        parts.append(f'<p class="caption">{esc(text(entry.get("caption")))}</p>')
    path = file_inside(run.root, entry.get("file"))
    if path is None:
        return "".join([*parts, f'<p class="notice">Table file {esc(name)} is missing.</p>'])
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        return "".join([*parts, f'<p class="notice">Could not read {esc(name)}: {esc(exc)}</p>'])
    total = len(frame)
    shown = frame.head(MAX_TABLE_ROWS)
    numeric = [
        pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
        for c in shown.columns
    ]
    rows = (
        [
            (fmt_num(v) if num else clip(text(v) if not _is_na(v) else "", 1000), v)
            for v, num in zip(r, numeric, strict=True)
        ]
        for r in shown.itertuples(index=False, name=None)
    )
    scroll = " scroll" if len(shown) > 15 else ""
    table = sortable_table([str(c) for c in shown.columns], rows, numeric)
    parts.append(f'<div class="table-wrap{scroll}">{table}</div>')
    model = text(entry.get("model"))
    where = f"{model_label(model)} · " if model else ""
    if total > MAX_TABLE_ROWS:
        parts.append(
            f'<p class="notice">Showing the first {MAX_TABLE_ROWS} of {total} rows; '
            f"the full table is in <code>{esc(name)}</code>.</p>"
        )
    parts.append(f'<p class="file">{esc(where)}{esc(name)} · {total} rows</p>')
    return "".join(parts)


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _read_jsonl(path: Path, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if len(rows) >= limit:
                    break
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        return []
    return rows


def _generation_row(row: Mapping[str, Any]) -> str:
    keys = [k for k in _FIRST_FIELDS if k in row] + [k for k in row if k not in _FIRST_FIELDS]
    fields = [
        f'<div class="field"><span class="label">{esc(str(k))}</span>'
        f'<div class="text">{esc(clip(text(row[k])))}</div></div>'
        for k in keys[:10]
    ]
    return f'<div class="gen">{"".join(fields)}</div>'


def generations_block(run: RunFolder, study: str) -> str:
    """Per model, a collapsible list of up to ``SAMPLE_GENERATIONS`` verbatim rows from each JSONL file."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in run.outputs(study, "generations"):
        by_model.setdefault(text(entry.get("model")), []).append(entry)
    blocks = []
    for model, entries in by_model.items():
        inner, shown = [], 0
        for entry in entries:
            name = text(entry.get("name")) or text(entry.get("file"))
            path = file_inside(run.root, entry.get("file"))
            rows = _read_jsonl(path, SAMPLE_GENERATIONS) if path else []
            n = finite_number(entry.get("n"))
            count = f" · {fmt_num(n)} rows" if n is not None else ""
            inner.append(
                f'<h4>{esc(name)}</h4><p class="file">{esc(text(entry.get("file")))}{esc(count)}</p>'
            )
            if not rows:
                inner.append('<p class="notice">No readable generations in this file.</p>')
            inner.extend(_generation_row(r) for r in rows)
            shown += len(rows)
        blocks.append(
            f"<details><summary>{esc(model_label(model) or 'unknown model')} — {shown} sample"
            f'{"" if shown == 1 else "s"}</summary><div class="body">{"".join(inner)}</div></details>'
        )
    return "".join(blocks)


def tensors_block(run: RunFolder, study: str) -> str:
    """The study's saved tensor files with the names each holds (empty when none)."""
    items = []
    for entry in run.outputs(study, "tensors"):
        if not text(entry.get("file")):
            continue
        names = [text(n) for n in as_list(entry.get("names"))]
        listed = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
        model = text(entry.get("model"))
        items.append(
            f"<li><code>{esc(text(entry.get('file')))}</code>"
            f"{' — ' + esc(model_label(model)) if model else ''}"
            f"{': ' + esc(listed) if listed else ''}</li>"
        )
    return f'<ul class="tensors">{"".join(items)}</ul>' if items else ""
