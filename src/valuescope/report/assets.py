"""The report's inline CSS and JS, and the Content-Security-Policy that allows exactly them."""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root {
  --fg: #1f2328; --muted: #656d76; --faint: #8c959f; --line: #d0d7de; --soft: #f6f8fa;
  --accent: #0b5cad; --accent-soft: #e8f1fb; --good: #1a7f37; --warn: #9a6700;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--fg); background: #fff; line-height: 1.55; font-size: 15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans",
    "Liberation Sans", sans-serif;
  font-variant-numeric: tabular-nums;
}
.page { max-width: 1100px; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0; }
h1 { font-size: 1.9rem; font-weight: 650; overflow-wrap: anywhere; }
h2 { font-size: 1.45rem; font-weight: 650; padding-bottom: .35rem; border-bottom: 1px solid var(--line);
  margin: 0 0 1rem; }
main > section { margin-top: 3.5rem; }
section > .eyebrow + h2 { margin-top: 0; }
h3 { font-size: 1.12rem; font-weight: 620; margin: 1.9rem 0 .6rem; }
h4 { font-size: .98rem; font-weight: 620; margin: 1.4rem 0 .5rem; }
p { margin: .5rem 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: var(--mono); font-size: .86em; }
.muted { color: var(--muted); }
.small { font-size: .86rem; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: .74rem; color: var(--muted);
  font-weight: 600; margin: 0 0 .3rem; }
header.top { border-bottom: 3px solid var(--accent); padding-bottom: 1.1rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.2rem; margin: 1rem 0 0;
  font-size: .9rem; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
ul.models { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .35rem; }
ul.models li { background: var(--soft); border: 1px solid var(--line); border-radius: 999px;
  padding: .05rem .65rem; font-size: .85rem; overflow-wrap: anywhere; }
nav.toc { margin: 1.6rem 0 0; padding: .9rem 1.2rem; background: var(--soft); border: 1px solid var(--line);
  border-radius: 8px; }
nav.toc h2 { border: 0; margin: 0 0 .3rem; padding: 0; font-size: .8rem; text-transform: uppercase;
  letter-spacing: .08em; color: var(--muted); }
nav.toc ol { margin: 0; padding-left: 1.3rem; columns: 2 18rem; column-gap: 2rem; }
nav.toc li { margin: .1rem 0; break-inside: avoid; }
nav.toc ol ol { columns: auto; padding-left: 1.1rem; font-size: .92em; }
.lead { color: var(--muted); max-width: 75ch; }
.description { max-width: 80ch; white-space: pre-wrap; overflow-wrap: anywhere; }
.reference { font-size: .9rem; color: var(--muted); border-left: 3px solid var(--line); padding-left: .8rem;
  max-width: 80ch; white-space: pre-wrap; overflow-wrap: anywhere; }
.badge { display: inline-block; font-size: .72rem; font-weight: 600; letter-spacing: .04em;
  text-transform: uppercase; padding: .08rem .5rem; border-radius: 4px; background: var(--accent-soft);
  color: var(--accent); vertical-align: middle; margin-left: .4rem; }
.badge.quick { background: #fff4d4; color: var(--warn); }
.badge.full { background: #dafbe1; color: var(--good); }
.notice { font-size: .88rem; color: var(--muted); background: var(--soft); border: 1px dashed var(--line);
  border-radius: 6px; padding: .45rem .75rem; margin: .6rem 0; }
section.did-not-run { border: 2px solid var(--warn); border-radius: 8px; padding: .2rem 1rem .8rem;
  background: #fffaf0; }
div.notice.did-not-run { border: 1px solid var(--warn); color: inherit; background: #fffaf0; }
.table-wrap { overflow: auto; max-width: 100%; border: 1px solid var(--line); border-radius: 6px;
  margin: .5rem 0 .4rem; }
.table-wrap.scroll { max-height: 32rem; }
table { border-collapse: collapse; width: 100%; font-size: .87rem; }
th, td { padding: .38rem .65rem; text-align: left; vertical-align: top; border-bottom: 1px solid #eaeef2; }
thead th { background: var(--soft); font-weight: 600; position: sticky; top: 0; z-index: 1;
  border-bottom: 1px solid var(--line); white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tbody tr:hover { background: var(--accent-soft); }
td.num, th.num { text-align: right; white-space: nowrap; }
td.text { overflow-wrap: anywhere; min-width: 8rem; max-width: 36rem; }
tbody th { font-weight: 600; }
th button.sort { all: unset; cursor: pointer; display: inline-flex; gap: .3rem; align-items: center; }
th button.sort:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; border-radius: 2px; }
th button.sort::after { content: "\\2195"; color: var(--faint); font-size: .8em; }
th[aria-sort="ascending"] button.sort::after { content: "\\25B2"; color: var(--accent); }
th[aria-sort="descending"] button.sort::after { content: "\\25BC"; color: var(--accent); }
table.metrics td { min-width: 10.5rem; }
table.metrics thead th { white-space: normal; overflow-wrap: anywhere; min-width: 9rem; }
table.metrics tbody th { min-width: 11rem; }
.est { font-weight: 600; font-size: .95rem; }
.est.null { color: var(--faint); font-weight: 400; }
.ci { color: var(--muted); white-space: nowrap; }
.stats { color: var(--muted); font-size: .8rem; margin-top: .1rem; }
.note { color: var(--muted); font-size: .8rem; font-style: italic; margin-top: .15rem; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.better { color: var(--accent); font-weight: 700; margin-left: .2rem; }
.desc { color: var(--muted); font-weight: 400; font-size: .8rem; margin-top: .1rem; }
.absent { color: var(--faint); font-size: .8rem; }
figure { margin: 1.2rem 0 1.6rem; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; background: #fff;
  border: 1px solid #eaeef2; border-radius: 6px; }
figcaption { font-size: .88rem; color: var(--muted); margin-top: .5rem; max-width: 80ch; }
figcaption strong { color: var(--fg); }
.caption { font-size: .88rem; color: var(--muted); margin: .2rem 0; max-width: 80ch; }
.file { font-family: var(--mono); font-size: .78rem; color: var(--faint); overflow-wrap: anywhere; }
details { border: 1px solid var(--line); border-radius: 6px; margin: .6rem 0; background: #fff; }
details > summary { cursor: pointer; padding: .5rem .8rem; font-weight: 600; font-size: .92rem;
  background: var(--soft); border-radius: 6px; overflow-wrap: anywhere; }
details[open] > summary { border-bottom: 1px solid var(--line); border-radius: 6px 6px 0 0; }
details > .body { padding: .6rem .9rem; }
.gen { border-top: 1px solid #eaeef2; padding: .6rem 0; }
.gen:first-child { border-top: 0; }
.field { margin: .25rem 0; }
.field .label { display: block; font-size: .72rem; text-transform: uppercase; letter-spacing: .06em;
  color: var(--muted); font-weight: 600; }
.field .text { white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--mono); font-size: .82rem;
  background: var(--soft); border-radius: 4px; padding: .4rem .6rem; margin: .1rem 0 0; }
pre.config { white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--mono); font-size: .8rem;
  margin: 0; }
ul.tensors { font-size: .88rem; padding-left: 1.2rem; }
ul.tensors li { overflow-wrap: anywhere; }
code.hash { font-size: .76rem; word-break: break-all; color: var(--muted); }
table.models th[scope="row"] { width: 11rem; color: var(--muted); font-weight: 500; }
table.models td { overflow-wrap: anywhere; }
.kv th { width: 14rem; color: var(--muted); font-weight: 500; }
.kv td { overflow-wrap: anywhere; }
.finding-row { margin: 1.4rem 0 2rem; }
.finding-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.2rem;
  align-items: start; }
.finding-text ul { padding-left: 1.1rem; margin: .3rem 0 .8rem; }
.finding-text li { margin: .35rem 0; line-height: 1.45; }
.finding-text li.gated { color: var(--muted); font-size: .9rem; }
.finding-figure figure { margin: 0; }
@media (max-width: 900px) { .finding-grid { grid-template-columns: 1fr; } }
.panel { margin: 1.2rem 0 2rem; }
.panel p.reading { font-size: 1rem; margin: .2rem 0 .8rem; }
footer { margin-top: 4rem; padding-top: 1rem; border-top: 1px solid var(--line); font-size: .82rem;
  color: var(--muted); }
@media print {
  body { font-size: 11pt; }
  .page { max-width: none; padding: 0; }
  nav.toc { break-after: page; }
  h2 { break-after: avoid; }
  h3, h4 { break-after: avoid; }
  section.study, #comparison, #about { break-before: page; }
  figure, tr, .gen { break-inside: avoid; }
  .table-wrap, .table-wrap.scroll { max-height: none; overflow: visible; }
  thead th { position: static; }
  tbody tr:hover { background: transparent; }
  th button.sort::after { content: ""; }
  a { color: inherit; }
}
"""

JS = """
(function () {
  "use strict";
  function keyOf(cell) {
    if (!cell) { return { empty: true }; }
    var raw = cell.getAttribute("data-v");
    if (raw !== null && raw !== "") {
      var f = parseFloat(raw);
      if (!isNaN(f)) { return { num: f }; }
    }
    var text = (cell.textContent || "").trim();
    if (text === "" || text === "\\u2014") { return { empty: true }; }
    var n = Number(text.replace(/,/g, ""));
    if (!isNaN(n)) { return { num: n }; }
    return { str: text };
  }
  function compare(a, b) {
    if ("num" in a && "num" in b) { return a.num - b.num; }
    if ("num" in a) { return -1; }
    if ("num" in b) { return 1; }
    return a.str.localeCompare(b.str, undefined, { numeric: true, sensitivity: "base" });
  }
  function sortBy(table, th, index) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var h = 0; h < heads.length; h++) { heads[h].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, key: keyOf(row.cells[index]), i: i };
    });
    rows.sort(function (a, b) {
      if (a.key.empty || b.key.empty) {
        return (a.key.empty ? 1 : 0) - (b.key.empty ? 1 : 0) || a.i - b.i;
      }
      var c = compare(a.key, b.key);
      return (dir === "descending" ? -c : c) || a.i - b.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, index) {
      var button = th.querySelector("button.sort");
      if (button) { button.addEventListener("click", function () { sortBy(table, th, index); }); }
    });
  });
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
})();
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def content_security_policy(css: str = CSS, js: str = JS) -> str:
    """A CSP that forbids every fetch and runs only the given inline style and script (by hash)."""
    return (
        "default-src 'none'; img-src data:; "
        f"style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; "
        "base-uri 'none'; form-action 'none'"
    )
