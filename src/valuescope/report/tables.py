"""HTML tables of the report: headline metrics (one row per metric, one column per model, estimate with its
interval, p, n, layer and note), sortable tables of plain cells, and key-value tables. Every cell is escaped
here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from valuescope.report.formatting import (
    as_dict,
    clip,
    esc,
    finite_number,
    fmt_estimate,
    fmt_num,
    fmt_p,
    metric_label,
    text,
)
from valuescope.report.run_folder import model_label

_BETTER = {"higher": ("↑", "higher is better"), "lower": ("↓", "lower is better")}


def _metric_cell(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return '<td><span class="absent">not measured</span></td>'
    est = finite_number(entry.get("estimate"))
    low, high = finite_number(entry.get("ci_low")), finite_number(entry.get("ci_high"))
    parts: list[str] = []
    ungated = entry.get("ungated")
    if est is None and isinstance(ungated, Mapping) and finite_number(ungated.get("estimate")) is not None:
        figures = fmt_estimate(finite_number(ungated.get("estimate")))
        lo, hi = (finite_number(ungated.get(k)) for k in ("ci_low", "ci_high"))
        if lo is not None and hi is not None:
            figures += f" [{fmt_estimate(lo)}, {fmt_estimate(hi)}]"
        title = "computed, but its instrument is below its validity gate: not a result"
        parts.append(f'<span class="est null gated" title="{title}">below gate</span>')
        parts.append(f'<div class="stats">computed: {esc(figures)}, not a result</div>')
    elif est is None:
        parts.append('<span class="est null" title="no estimate">—</span>')
    else:
        parts.append(f'<span class="est">{esc(fmt_estimate(est))}</span>')
        if low is not None or high is not None:
            bounds = ", ".join(fmt_estimate(b) if b is not None else "—" for b in (low, high))
            parts.append(f' <span class="ci">[{esc(bounds)}]</span>')
    stats = [fmt_p(entry.get("p"))]
    n = finite_number(entry.get("n"))
    stats.append(f"n={fmt_num(n)}" if n is not None else "")
    layer = entry.get("layer")
    stats.append(f"layer {text(layer)}" if layer is not None and layer != "" else "")
    stats = [s for s in stats if s]
    if stats:
        parts.append(f'<div class="stats">{esc(" · ".join(stats))}</div>')
    note = text(entry.get("note"))
    if note:
        parts.append(f'<div class="note">{esc(clip(note, 600))}</div>')
    data_v = f' data-v="{esc(repr(est))}"' if est is not None else ""
    return f"<td{data_v}>{''.join(parts)}</td>"


def _better_of(study: Mapping[str, Any], models: Sequence[str], metric: str) -> str:
    for model in models:
        entry = as_dict(study.get(model)).get(metric)
        if isinstance(entry, Mapping) and entry.get("better") in _BETTER:
            arrow, label = _BETTER[entry["better"]]
            return f' <span class="better" title="{label}" aria-label="{label}">{arrow}</span>'
    return ""


def metric_table(
    study: Mapping[str, Any], models: Sequence[str], descriptions: Mapping[str, Any] | None = None
) -> str:
    """One row per metric, one column per model: ``estimate [ci_low, ci_high]``, p, n, layer, note."""
    models = [m for m in models if isinstance(study.get(m), Mapping)]
    metrics = list(dict.fromkeys(str(k) for m in models for k in as_dict(study.get(m))))
    if not metrics:
        return ""
    head = "".join(f'<th scope="col">{esc(model_label(m))}</th>' for m in models)
    rows = []
    for metric in metrics:
        desc = text((descriptions or {}).get(metric))
        desc_html = f'<div class="desc">{esc(desc)}</div>' if desc else ""
        name = f'<div class="file">{esc(metric)}</div>'
        label = f"{esc(metric_label(metric))}{_better_of(study, models, metric)}{name}{desc_html}"
        cells = "".join(_metric_cell(as_dict(study.get(m)).get(metric)) for m in models)
        rows.append(f'<tr><th scope="row">{label}</th>{cells}</tr>')
    return (
        '<div class="table-wrap"><table class="metrics"><thead><tr><th scope="col">metric</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def sortable_table(
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
            data_v = f' data-v="{esc(repr(float(key)))}"' if finite_number(key) is not None else ""
            cells.append(f'<td class="{"num" if num else "text"}"{data_v}>{esc(shown)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    tfoot = f"<tfoot>{foot}</tfoot>" if foot else ""
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>{tfoot}</table>'
    )


def kv_table(items: Mapping[str, Any]) -> str:
    """A two-column table of keys and values (a notice when there are none)."""
    if not items:
        return '<p class="notice">Not recorded.</p>'
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(text(v))}</td></tr>' for k, v in items.items())
    return f'<div class="table-wrap"><table class="kv"><tbody>{rows}</tbody></table></div>'
