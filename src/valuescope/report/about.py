"""The "About this run" section: the models and their hashes, data files, seeds, library versions, platform,
and the time each study and model took.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from valuescope.report.formatting import as_dict, as_list, esc, finite_number, fmt_num, fmt_seconds, text
from valuescope.report.run_folder import RunFolder, model_label
from valuescope.report.tables import kv_table, sortable_table

_MODEL_FIELDS = ("name", "family", "quantization", "tokenizer", "weights_sha256")


def _timings(run: RunFolder) -> str:
    steps = [as_dict(t) for t in as_list(run.manifest.get("timings")) if isinstance(t, Mapping)]
    if not steps:
        return '<p class="notice">No timings recorded.</p>'
    totals: dict[tuple[str, str], list[float]] = {}
    for step in steps:
        row = totals.setdefault((text(step.get("study")), text(step.get("model"))), [0, 0, 0, 0.0])
        row[0] += 1
        row[1 if step.get("status") == "reused" else 2] += 1
        row[3] += finite_number(step.get("seconds")) or 0.0
    rows = [
        [(s or "—", None), (model_label(m) or "—", None), (fmt_num(n), n), (fmt_num(c), c), (fmt_num(r), r),
         (fmt_seconds(sec), sec)]
        for (s, m), (n, r, c, sec) in totals.items()
    ]  # fmt: skip
    grand = sum(v[3] for v in totals.values())
    foot = f'<tr><th scope="row" colspan="5">total</th><td class="num">{esc(fmt_seconds(grand))}</td></tr>'
    table = sortable_table(
        ["study", "model", "steps", "computed", "reused", "time"], rows, [False, False, *[True] * 4], foot
    )
    detail_rows = [
        [(text(t.get("study")), None), (model_label(text(t.get("model"))), None),
         (text(t.get("step")), None), (text(t.get("status")), None),
         (fmt_num(finite_number(t.get("seconds"))), finite_number(t.get("seconds")))]
        for t in steps
    ]  # fmt: skip
    headers = ["study", "model", "step", "status", "seconds"]
    detail = sortable_table(headers, detail_rows, [False] * 4 + [True])
    return (
        f'<div class="table-wrap">{table}</div><details><summary>All {len(steps)} steps</summary>'
        f'<div class="body"><div class="table-wrap scroll">{detail}</div></div></details>'
    )


def _models_table(infos: Mapping[str, Any]) -> str:
    """Fields as rows, models as columns, so long hashes wrap inside each model's column."""
    models = {key: as_dict(value) for key, value in infos.items()}
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


def about_section(run: RunFolder) -> str:
    """The provenance section: models, data files, seeds, libraries, platform and timings."""
    m = run.manifest
    parts = ['<section id="about"><h2>About this run</h2>']
    infos = as_dict(m.get("models"))
    if infos:
        parts.append("<h3>Models</h3>" + _models_table(infos))
    files = as_dict(m.get("data_files"))
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
    parts.append("<h3>Seeds</h3>" + kv_table(as_dict(m.get("seeds"))))
    libraries = as_dict(m.get("libraries"))
    parts.append("<h3>Libraries</h3>")
    if libraries:
        rows_l = [[(k, None), (text(v), None)] for k, v in libraries.items()]
        parts.append(
            f'<div class="table-wrap">{sortable_table(["library", "version"], rows_l, [False, False])}</div>'
        )
    else:
        parts.append('<p class="notice">Not recorded.</p>')
    parts.append("<h3>Platform</h3>" + kv_table(as_dict(m.get("platform"))))
    parts.append("<h3>Timings</h3>" + _timings(run))
    return "".join(parts) + "</section>"
