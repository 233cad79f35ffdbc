"""Assemble ``RUN_DIR/report.html``: one self-contained page from ``summary.json`` and ``manifest.json``.

Everything read from the run directory is untrusted (it came from models and datasets): every string
goes through :func:`esc` before it reaches the page, files are read only from inside the run directory,
figures are embedded as ``data:`` images and the page's CSP forbids every fetch and all but our own
inline script and style.
"""

from __future__ import annotations

import base64
import html
import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from valuescope.report import assets
from valuescope.report.plots import figure_data_uri, forest_plot, plottable_metrics
from valuescope.studies.metrics import ALL_MODELS
from valuescope.tensors import write_bytes_atomic

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
FAILED_UNITS = "failed_units"
REPORT = "report.html"
MAX_TABLE_ROWS = 200
SAMPLE_GENERATIONS = 3
MAX_FIELD_CHARS = 4000
MAX_IMAGE_BYTES = 16 * 1024 * 1024
_PROFILES = ("quick", "demo", "full")
_BETTER = {"higher": ("↑", "higher is better"), "lower": ("↓", "lower is better")}
_FIRST_FIELDS = ("prompt", "response")
_MODEL_FIELDS = ("name", "family", "quantization", "tokenizer", "weights_sha256")


# ---------------------------------------------------------------- small helpers


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped for element content and quoted attributes alike."""
    return html.escape(value if isinstance(value, str) else text(value), quote=True)


def _dict(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def fmt_num(value: Any) -> str:
    """Numbers to 4 significant digits (integers whole, large values without exponent)."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if not isinstance(value, numbers.Real):
        return text(value)
    number = float(value)
    if math.isnan(number):
        return ""
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if 1e4 <= abs(number) < 1e15:
        return f"{number:.0f}"
    return f"{number:.4g}"


def fmt_p(value: Any) -> str:
    """``p<0.001`` or ``p=0.003`` style; empty for a missing p."""
    p = _num(value)
    if p is None:
        return ""
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def fmt_seconds(value: float) -> str:
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def text(value: Any) -> str:
    """Any JSON value as display text (unescaped): strings as-is, numbers formatted, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Number | np.bool_):
        return fmt_num(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _clip(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    return value if len(value) <= limit else value[:limit] + f"\n… ({len(value) - limit} more characters)"


class _Ids:
    """Unique, sanitized anchor ids: ``prefix-slug`` with only ``[a-z0-9-]``."""

    def __init__(self) -> None:
        self._used: set[str] = {"overview", "comparison", "about", "contents"}

    def make(self, prefix: str, label: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:48].strip("-") or "x"
        candidate, n = f"{prefix}-{slug}", 2
        while candidate in self._used:
            candidate, n = f"{prefix}-{slug}-{n}", n + 1
        self._used.add(candidate)
        return candidate


def _inside(root: Path, relative: Any) -> Path | None:
    """The file ``relative`` names inside ``root`` (symlinks resolved), or None if absent or outside."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    path = Path(relative)
    if path.is_absolute():
        return None
    try:
        resolved = (root / path).resolve()
        return resolved if resolved.is_relative_to(root) and resolved.is_file() else None
    except (OSError, RuntimeError, ValueError):
        return None


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `valuescope run` first to create it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run `valuescope run`") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


# ---------------------------------------------------------------- the run


@dataclass
class _Run:
    root: Path
    summary: dict[str, Any]
    manifest: dict[str, Any]
    ids: _Ids = field(default_factory=_Ids)

    @property
    def name(self) -> str:
        return self.root.name

    @cached_property
    def models(self) -> list[str]:
        """Model keys, manifest order first, never ``_all``."""
        keys = list(_dict(self.manifest.get("models")))
        for study in self.summary.values():
            keys.extend(_dict(study))
        return [k for k in dict.fromkeys(keys) if k != ALL_MODELS]

    @cached_property
    def studies(self) -> list[str]:
        keys = [*_dict(self.manifest.get("studies")), *self.summary, *_dict(self.manifest.get("outputs"))]
        return [k for k in dict.fromkeys(keys) if k != FAILED_UNITS]

    @cached_property
    def failed_units(self) -> list[dict[str, Any]]:
        """Units that did not run (``summary.json``'s ``failed_units``), each a dict."""
        entries = _list(self.summary.get(FAILED_UNITS, self.manifest.get(FAILED_UNITS)))
        return [_dict(e) for e in entries if isinstance(e, Mapping)]

    def study_failures(self, study: str) -> list[dict[str, Any]]:
        return [e for e in self.failed_units if text(e.get("study")) == study]

    def study_info(self, study: str) -> dict[str, Any]:
        return _dict(_dict(self.manifest.get("studies")).get(study))

    def study_summary(self, study: str) -> dict[str, Any]:
        if study == FAILED_UNITS:
            return {}
        return _dict(self.summary.get(study))

    def outputs(self, study: str, kind: str) -> list[dict[str, Any]]:
        entries = _list(_dict(_dict(self.manifest.get("outputs")).get(study)).get(kind))
        return [_dict(e) for e in entries if isinstance(e, Mapping)]

    def title(self, study: str) -> str:
        return text(self.study_info(study).get("title")) or study or "(unnamed study)"


def _model_label(model: str) -> str:
    return "all models" if model == ALL_MODELS else model


# ---------------------------------------------------------------- tables of numbers


def _metric_cell(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return '<td><span class="absent">not measured</span></td>'
    est = _num(entry.get("estimate"))
    low, high = _num(entry.get("ci_low")), _num(entry.get("ci_high"))
    parts: list[str] = []
    if est is None:
        parts.append('<span class="est null" title="no estimate">—</span>')
    else:
        parts.append(f'<span class="est">{esc(fmt_num(est))}</span>')
        if low is not None or high is not None:
            bounds = ", ".join(fmt_num(b) if b is not None else "—" for b in (low, high))
            parts.append(f' <span class="ci">[{esc(bounds)}]</span>')
    stats = [fmt_p(entry.get("p"))]
    n = _num(entry.get("n"))
    stats.append(f"n={fmt_num(n)}" if n is not None else "")
    layer = entry.get("layer")
    stats.append(f"layer {text(layer)}" if layer is not None and layer != "" else "")
    stats = [s for s in stats if s]
    if stats:
        parts.append(f'<div class="stats">{esc(" · ".join(stats))}</div>')
    note = text(entry.get("note"))
    if note:
        parts.append(f'<div class="note">{esc(_clip(note, 600))}</div>')
    data_v = f' data-v="{esc(repr(est))}"' if est is not None else ""
    return f"<td{data_v}>{''.join(parts)}</td>"


def _better_of(study: Mapping[str, Any], models: Sequence[str], metric: str) -> str:
    for model in models:
        entry = _dict(study.get(model)).get(metric)
        if isinstance(entry, Mapping) and entry.get("better") in _BETTER:
            arrow, label = _BETTER[entry["better"]]
            return f' <span class="better" title="{label}" aria-label="{label}">{arrow}</span>'
    return ""


def _metric_table(
    study: Mapping[str, Any], models: Sequence[str], descriptions: Mapping[str, Any] | None = None
) -> str:
    """One row per metric, one column per model: ``estimate [ci_low, ci_high]``, p, n, layer, note."""
    models = [m for m in models if isinstance(study.get(m), Mapping)]
    metrics = list(dict.fromkeys(str(k) for m in models for k in _dict(study.get(m))))
    if not metrics:
        return ""
    head = "".join(f'<th scope="col">{esc(_model_label(m))}</th>' for m in models)
    rows = []
    for metric in metrics:
        desc = text((descriptions or {}).get(metric))
        desc_html = f'<div class="desc">{esc(desc)}</div>' if desc else ""
        label = f"{esc(metric)}{_better_of(study, models, metric)}{desc_html}"
        cells = "".join(_metric_cell(_dict(study.get(m)).get(metric)) for m in models)
        rows.append(f'<tr><th scope="row">{label}</th>{cells}</tr>')
    return (
        '<div class="table-wrap"><table class="metrics"><thead><tr><th scope="col">metric</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _sortable(
    headers: Sequence[str], rows: Iterable[Sequence[tuple[str, Any]]], numeric: Sequence[bool], foot: str = ""
) -> str:
    """A sortable table; each cell is ``(display text, sort value or None)``, both escaped here.

    ``foot`` is trusted HTML for a ``<tfoot>`` row, which sorting leaves in place.
    """
    head = "".join(
        f'<th scope="col" class="{"num" if num else "text"}">'
        f'<button type="button" class="sort">{esc(h)}</button></th>'
        for h, num in zip(headers, numeric, strict=True)
    )
    body = []
    for row in rows:
        cells = []
        for (shown, key), num in zip(row, numeric, strict=True):
            data_v = f' data-v="{esc(repr(float(key)))}"' if _num(key) is not None else ""
            cells.append(f'<td class="{"num" if num else "text"}"{data_v}>{esc(shown)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    tfoot = f"<tfoot>{foot}</tfoot>" if foot else ""
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>{tfoot}</table>'
    )


def _kv_table(items: Mapping[str, Any]) -> str:
    if not items:
        return '<p class="notice">Not recorded.</p>'
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(text(v))}</td></tr>' for k, v in items.items())
    return f'<div class="table-wrap"><table class="kv"><tbody>{rows}</tbody></table></div>'


# ---------------------------------------------------------------- study outputs


def _csv_block(run: _Run, entry: Mapping[str, Any]) -> str:
    name = text(entry.get("file"))
    title = text(entry.get("title")) or text(entry.get("name")) or name
    parts = [f"<h4>{esc(title)}</h4>"]
    if entry.get("caption"):
        parts.append(f'<p class="caption">{esc(text(entry.get("caption")))}</p>')
    path = _inside(run.root, entry.get("file"))
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
            (fmt_num(v) if num else _clip(text(v) if not _is_na(v) else "", 1000), v)
            for v, num in zip(r, numeric, strict=True)
        ]
        for r in shown.itertuples(index=False, name=None)
    )
    scroll = " scroll" if len(shown) > 15 else ""
    parts.append(
        f'<div class="table-wrap{scroll}">{_sortable([str(c) for c in shown.columns], rows, numeric)}</div>'
    )
    model = text(entry.get("model"))
    where = f"{_model_label(model)} · " if model else ""
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


def _image_uri(run: _Run, entry: Mapping[str, Any]) -> str | None:
    """The figure as a ``data:`` URI: the SVG when it looks like one, else the PNG."""
    for key in ("file", "png"):
        path = _inside(run.root, entry.get(key))
        if path is None or path.stat().st_size > MAX_IMAGE_BYTES:
            continue
        data = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix == ".svg" and b"<svg" in data[:4096]:
            mime = "image/svg+xml"
        elif suffix == ".png" and data.startswith(b"\x89PNG\r\n\x1a\n"):
            mime = "image/png"
        else:
            continue
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return None


def _figure_html(uri: str, title: str, caption: str, extra: str = "") -> str:
    cap = f"<strong>{esc(title)}</strong>" + (f" — {esc(caption)}" if caption else "")
    if extra:
        cap += f'<br><span class="file">{esc(extra)}</span>'
    return f'<figure><img src="{esc(uri)}" alt="{esc(title)}"><figcaption>{cap}</figcaption></figure>'


def _figure_block(run: _Run, entry: Mapping[str, Any]) -> str:
    name = text(entry.get("file")) or text(entry.get("png"))
    title = text(entry.get("title")) or text(entry.get("name")) or name or "untitled figure"
    uri = _image_uri(run, entry)
    if uri is None:
        return (
            f'<p class="notice">Figure “{esc(title)}” ({esc(name)}) is missing or not an SVG/PNG image.</p>'
        )
    model = text(entry.get("model"))
    extra = f"{_model_label(model)} · {name}" if model else name
    return _figure_html(uri, title, text(entry.get("caption")), extra)


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
        f'<div class="text">{esc(_clip(text(row[k])))}</div></div>'
        for k in keys[:10]
    ]
    return f'<div class="gen">{"".join(fields)}</div>'


def _generations_block(run: _Run, study: str) -> str:
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in run.outputs(study, "generations"):
        by_model.setdefault(text(entry.get("model")), []).append(entry)
    blocks = []
    for model, entries in by_model.items():
        inner, shown = [], 0
        for entry in entries:
            name = text(entry.get("name")) or text(entry.get("file"))
            path = _inside(run.root, entry.get("file"))
            rows = _read_jsonl(path, SAMPLE_GENERATIONS) if path else []
            n = _num(entry.get("n"))
            count = f" · {fmt_num(n)} rows" if n is not None else ""
            inner.append(
                f'<h4>{esc(name)}</h4><p class="file">{esc(text(entry.get("file")))}{esc(count)}</p>'
            )
            if not rows:
                inner.append('<p class="notice">No readable generations in this file.</p>')
            inner.extend(_generation_row(r) for r in rows)
            shown += len(rows)
        blocks.append(
            f"<details><summary>{esc(_model_label(model) or 'unknown model')} — {shown} sample"
            f'{"" if shown == 1 else "s"}</summary><div class="body">{"".join(inner)}</div></details>'
        )
    return "".join(blocks)


def _tensors_block(run: _Run, study: str) -> str:
    items = []
    for entry in run.outputs(study, "tensors"):
        if not text(entry.get("file")):
            continue
        names = [text(n) for n in _list(entry.get("names"))]
        listed = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
        model = text(entry.get("model"))
        items.append(
            f"<li><code>{esc(text(entry.get('file')))}</code>"
            f"{' — ' + esc(_model_label(model)) if model else ''}"
            f"{': ' + esc(listed) if listed else ''}</li>"
        )
    return f'<ul class="tensors">{"".join(items)}</ul>' if items else ""


# ---------------------------------------------------------------- sections


def _header(run: _Run) -> str:
    m = run.manifest
    infos = _dict(m.get("models"))
    chips = []
    for model in run.models:
        name = text(_dict(infos.get(model)).get("name"))
        extra = f' <span class="muted">({esc(name)})</span>' if name and name != model else ""
        chips.append(f"<li>{esc(model)}{extra}</li>")
    commit = text(m.get("git_commit"))
    meta = [
        ("created", esc(text(m.get("created")) or "unknown")),
        ("valuescope", esc(text(m.get("valuescope_version")) or "unknown")),
        ("git commit", f"<code>{esc(commit)}</code>" if commit else '<span class="muted">unknown</span>'),
        (
            "models",
            f'<ul class="models">{"".join(chips)}</ul>' if chips else '<span class="muted">none</span>',
        ),
    ]
    if m.get("command"):
        meta.append(("command", f"<code>{esc(text(m.get('command')))}</code>"))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    return (
        f'<header class="top"><p class="eyebrow">valuescope report</p><h1>{esc(run.name)}</h1>'
        f'<dl class="meta">{dl}</dl></header>'
    )


def _failure_rows(entries: Sequence[Mapping[str, Any]], study_column: bool) -> str:
    head = "<th>study</th>" if study_column else ""
    rows = []
    for e in entries:
        study = f"<td>{esc(text(e.get('study')))}</td>" if study_column else ""
        kind = text(e.get("error_type"))
        reason = esc(_clip(text(e.get("reason"))))
        reason = f"<code>{esc(kind)}</code>: {reason}" if kind else reason
        rows.append(
            f"<tr>{study}<td>{esc(text(e.get('model')))}</td><td>{esc(text(e.get('step')))}</td>"
            f'<td><span class="badge">{esc(text(e.get("status")))}</span></td><td>{reason}</td></tr>'
        )
    return (
        f"<table><thead><tr>{head}<th>model</th><th>step</th><th>status</th><th>reason</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _did_not_run(run: _Run) -> str:
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
        f"{_failure_rows(failed, study_column=True)}</section>"
    )


def _toc(entries: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="#{anchor}">{esc(label)}</a></li>' for anchor, label in entries)
    return f'<nav class="toc" id="contents" aria-label="Contents"><h2>Contents</h2><ol>{items}</ol></nav>'


def _overview(run: _Run, anchors: Mapping[str, str]) -> str:
    parts = [
        '<section id="overview"><h2>Overview</h2><p class="lead">Headline numbers per study: '
        "estimate [CI low, CI high], then p, n and layer where recorded. ↑ / ↓ mark the better direction; "
        "— is a missing estimate.</p>"
    ]
    for study in run.studies:
        summary = run.study_summary(study)
        parts.append(f'<h3><a href="#{anchors[study]}">{esc(run.title(study))}</a></h3>')
        table = _metric_table(summary, run.models)
        across = _metric_table(summary, [ALL_MODELS])
        if not table and not across:
            parts.append('<p class="notice">No headline metrics recorded for this study.</p>')
        parts.append(table + across)
    return "".join(parts) + "</section>"


def _study(run: _Run, study: str, anchor: str) -> str:
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
            f"{_failure_rows(failures, study_column=False)}</div>"
        )
    if info.get("description"):
        parts.append(f'<p class="description">{esc(text(info.get("description")))}</p>')
    if info.get("reference"):
        parts.append(f'<p class="reference">{esc(text(info.get("reference")))}</p>')
    findings = _dict(info.get("findings"))
    if findings:
        parts.append("<h3>Findings</h3>")
        for model in [*run.models, *[m for m in findings if m not in run.models]]:
            sentences = [text(x) for x in _list(findings.get(model)) if text(x)]
            if sentences:
                items = "".join(f"<li>{esc(_clip(x))}</li>" for x in sentences)
                parts.append(f'<div class="findings"><h4>{esc(model)}</h4><ul>{items}</ul></div>')
    summary = run.study_summary(study)
    descriptions = _dict(info.get("metrics"))
    metrics = _metric_table(summary, run.models, descriptions) + _metric_table(
        summary, [ALL_MODELS], descriptions
    )
    parts.append("<h3>Headline metrics</h3>")
    parts.append(metrics or '<p class="notice">No headline metrics recorded.</p>')
    tables = [_csv_block(run, t) for t in run.outputs(study, "tables")]
    if tables:
        parts.append("<h3>Tables</h3>" + "".join(tables))
    figures = [_figure_block(run, f) for f in run.outputs(study, "figures")]
    if figures:
        parts.append("<h3>Figures</h3>" + "".join(figures))
    generations = _generations_block(run, study)
    if generations:
        note = f'<p class="muted small">Up to {SAMPLE_GENERATIONS} per file, verbatim.</p>'
        parts.append(f"<h3>Sample generations</h3>{note}{generations}")
    tensors = _tensors_block(run, study)
    if tensors:
        parts.append("<h3>Saved tensors</h3>" + tensors)
    if "config" in info:
        config = json.dumps(info.get("config"), indent=2, ensure_ascii=False, default=str)
        parts.append(
            f'<details><summary>Configuration</summary><div class="body"><pre class="config">{esc(config)}'
            "</pre></div></details>"
        )
    return "".join(parts) + "</section>"


def _comparison(run: _Run) -> str:
    parts = [
        '<section id="comparison"><h2>Cross-model comparison</h2><p class="lead">Each panel is one metric: '
        "every model's estimate with its confidence interval.</p>"
    ]
    for study in run.studies:
        summary = run.study_summary(study)
        models = [m for m in run.models if m in summary]
        anchor = run.ids.make("cmp", study)
        parts.append(f'<h3 id="{anchor}">{esc(run.title(study))}</h3>')
        if len(models) >= 2 and plottable_metrics(summary, models):
            fig = forest_plot(summary, models)
            title = f"{run.title(study)}: estimates by model"
            caption = "Points are estimates, whiskers their confidence intervals; ↑/↓ in a title marks the "
            parts.append(_figure_html(figure_data_uri(fig), title, caption + "better direction."))
        else:
            parts.append('<p class="notice">Fewer than two models have estimates for this study.</p>')
        across = _metric_table(summary, [ALL_MODELS], _dict(run.study_info(study).get("metrics")))
        if across:
            parts.append("<h4>Across-model metrics</h4>" + across)
    return "".join(parts) + "</section>"


def _timings(run: _Run) -> str:
    steps = [_dict(t) for t in _list(run.manifest.get("timings")) if isinstance(t, Mapping)]
    if not steps:
        return '<p class="notice">No timings recorded.</p>'
    totals: dict[tuple[str, str], list[float]] = {}
    for step in steps:
        row = totals.setdefault((text(step.get("study")), text(step.get("model"))), [0, 0, 0, 0.0])
        row[0] += 1
        row[1 if step.get("status") == "reused" else 2] += 1
        row[3] += _num(step.get("seconds")) or 0.0
    rows = [
        [(s or "—", None), (_model_label(m) or "—", None), (fmt_num(n), n), (fmt_num(c), c), (fmt_num(r), r),
         (fmt_seconds(sec), sec)]
        for (s, m), (n, r, c, sec) in totals.items()
    ]  # fmt: skip
    grand = sum(v[3] for v in totals.values())
    foot = f'<tr><th scope="row" colspan="5">total</th><td class="num">{esc(fmt_seconds(grand))}</td></tr>'
    table = _sortable(
        ["study", "model", "steps", "computed", "reused", "time"], rows, [False, False, *[True] * 4], foot
    )
    detail_rows = [
        [(text(t.get("study")), None), (_model_label(text(t.get("model"))), None),
         (text(t.get("step")), None), (text(t.get("status")), None),
         (fmt_num(_num(t.get("seconds"))), _num(t.get("seconds")))]
        for t in steps
    ]  # fmt: skip
    detail = _sortable(["study", "model", "step", "status", "seconds"], detail_rows, [False] * 4 + [True])
    return (
        f'<div class="table-wrap">{table}</div><details><summary>All {len(steps)} steps</summary>'
        f'<div class="body"><div class="table-wrap scroll">{detail}</div></div></details>'
    )


def _models_table(infos: Mapping[str, Any]) -> str:
    """Fields as rows, models as columns, so long hashes wrap inside each model's column."""
    models = {key: _dict(value) for key, value in infos.items()}
    extra = [k for k in dict.fromkeys(k for v in models.values() for k in v) if k not in _MODEL_FIELDS]
    head = "".join(f'<th scope="col">{esc(k)}</th>' for k in models)
    rows = []
    for name in [*_MODEL_FIELDS, *extra]:
        cells = []
        for info in models.values():
            shown = text(info.get(name)) or ("none" if name == "quantization" and name in info else "")
            cells.append(f'<td><code class="hash">{esc(shown)}</code></td>' if name.endswith("sha256") else
                         f"<td>{esc(shown)}</td>")  # fmt: skip
        rows.append(f'<tr><th scope="row">{esc(name)}</th>{"".join(cells)}</tr>')
    return (
        '<div class="table-wrap"><table class="models"><thead><tr><th scope="col">field</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _about(run: _Run) -> str:
    m = run.manifest
    parts = ['<section id="about"><h2>About this run</h2>']
    infos = _dict(m.get("models"))
    if infos:
        parts.append("<h3>Models</h3>" + _models_table(infos))
    files = _dict(m.get("data_files"))
    parts.append("<h3>Data files</h3>")
    if files:
        rows = "".join(
            f'<tr><td class="text"><code>{esc(p)}</code></td>'
            f'<td><code class="hash">{esc(text(h))}</code></td></tr>'
            for p, h in files.items()
        )
        parts.append(
            '<div class="table-wrap"><table><thead><tr><th scope="col">file</th>'
            f'<th scope="col">sha256</th></tr></thead><tbody>{rows}</tbody></table></div>'
        )
    else:
        parts.append('<p class="notice">No data files recorded.</p>')
    parts.append("<h3>Seeds</h3>" + _kv_table(_dict(m.get("seeds"))))
    libraries = _dict(m.get("libraries"))
    parts.append("<h3>Libraries</h3>")
    if libraries:
        rows_l = [[(k, None), (text(v), None)] for k, v in libraries.items()]
        parts.append(
            f'<div class="table-wrap">{_sortable(["library", "version"], rows_l, [False, False])}</div>'
        )
    else:
        parts.append('<p class="notice">Not recorded.</p>')
    parts.append("<h3>Platform</h3>" + _kv_table(_dict(m.get("platform"))))
    parts.append("<h3>Timings</h3>" + _timings(run))
    return "".join(parts) + "</section>"


# ---------------------------------------------------------------- the page


def render_report(run_dir: str | Path) -> str:
    """The report page for ``run_dir`` as one HTML string (nothing is written)."""
    root = Path(run_dir).resolve()
    summary = _load_json(root / SUMMARY)
    manifest = _load_json(root / MANIFEST)
    run = _Run(root, summary, manifest)
    anchors = {study: run.ids.make("study", study) for study in run.studies}
    compare = len(run.models) >= 2
    toc = [("did-not-run", "What did not run")] if run.failed_units else []
    toc += [("overview", "Overview")]
    toc += [(anchors[s], f"Study: {run.title(s)}") for s in run.studies]
    toc += [("comparison", "Cross-model comparison")] if compare else []
    toc += [("about", "About this run")]
    body = [_header(run), _toc(toc), "<main>", _did_not_run(run), _overview(run, anchors)]
    body += [_study(run, s, anchors[s]) for s in run.studies]
    body += [_comparison(run)] if compare else []
    body += [_about(run), "</main>"]
    version = text(manifest.get("valuescope_version"))
    version = f" {version}" if version else ""
    body.append(f"<footer>Generated by valuescope{esc(version)} from {esc(run.name)}/{SUMMARY} and "
                f"{MANIFEST}. This page makes no network requests.</footer>")  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(assets.content_security_policy())}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{esc(run.name)} — valuescope report</title><style>{assets.CSS}</style></head>"
        f'<body><div class="page">{"".join(body)}</div><script>{assets.JS}</script></body></html>\n'
    )


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path.

    Raises ``FileNotFoundError`` when ``summary.json`` or ``manifest.json`` is missing.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such run directory; run `valuescope run` first to create it")
    return write_bytes_atomic(root / REPORT, render_report(root).encode("utf-8"))
