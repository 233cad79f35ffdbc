"""Translations of the mechanisms study's statements and queries, for testing whether value vectors found
in English transfer to other languages: the package's ``mechanisms_translations.csv`` or a user file of
the same schema (UTF-8 CSV).

The file may open with comment lines starting with ``#`` (skipped); then a header row, then strict CSV.
Columns ``item_id,kind,language,text`` (extra columns are ignored):

- ``kind``: ``statement`` (a row of ``mechanisms_statements.csv``) | ``query`` (a row of
  ``mechanisms_queries.csv``).
- ``item_id``: the English row's ``statement_id`` / ``query_id``.
- ``language``: ``zh`` (simplified Chinese) | ``es`` | ``fr`` | ``ko``; one row per item and language.
  English is not repeated here: it comes from the source files, and so do a statement's value and keying.
- ``text``: the translation (a reverse-keyed statement stays reverse-keyed).

The package's translations are unofficial (machine-assisted, not back-translated nor validated by native
speakers) and are not the official translated PVQ; a file of official translations with these columns
can replace them. A file may cover only some items and languages.

Problems raise :class:`~valuescope.data.csvfile.StimulusError` naming the file, the line in the file
(comment lines counted), the column and the fix.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import (
    LINE,
    StimulusError,
    check_width,
    csv_rows,
    fail,
    finish,
    read_frame,
    read_text,
    value_cell,
)
from valuescope.data.queries import load_queries

LANGUAGES = ("en", "zh", "es", "fr", "ko")
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "es": "Spanish", "fr": "French", "ko": "Korean"}
TRANSLATION_COLUMNS = ("item_id", "kind", "language", "text")
KINDS = ("statement", "query")
OUTPUT_COLUMNS = ("item_id", "kind", "language", "text", "source_text", "value", "reverse")

_DEFAULT = "mechanisms_translations.csv"
_STATEMENT_COLUMNS = ("statement_id", "value", "reverse", "text")
_TRUE, _FALSE = ("1", "true"), ("0", "false")


def _flag(cell: object, source: str, line: int) -> bool:
    if isinstance(cell, bool):
        return cell
    text = str(cell).strip().lower()
    if text not in _TRUE + _FALSE:
        raise fail(source, line, "reverse", f"{cell!r} is not 0, 1, true or false", "write 1 or 0")
    return text in _TRUE


def _english_statements(statements: pd.DataFrame | None) -> dict[str, tuple[str, str, bool]]:
    """statement_id -> (text, value, reverse), in file order."""
    if statements is None:
        source, df = read_frame(None, "mechanisms_statements.csv", _STATEMENT_COLUMNS, "statement_id")
        lines = [int(line) for line in df[LINE]]
        df = finish(df)
    else:
        missing = [c for c in _STATEMENT_COLUMNS if c not in statements.columns]
        if missing:
            needed = ", ".join(_STATEMENT_COLUMNS)
            raise ValueError(f"statements lack columns {', '.join(missing)}; pass {needed}")
        source, df, lines = "statements", statements, [i + 2 for i in range(len(statements))]
    return {
        str(sid): (str(text), value_cell(str(value), source, line), _flag(rev, source, line))
        for sid, value, rev, text, line in zip(
            df["statement_id"], df["value"], df["reverse"], df["text"], lines, strict=True
        )
    }


def _english_queries(queries: pd.DataFrame | None) -> dict[str, str]:
    """query_id -> query, in file order."""
    df = load_queries() if queries is None else queries
    return {str(qid): str(text) for qid, text in zip(df["query_id"], df["query"], strict=True)}


def _records(path: str | Path | None) -> tuple[str, int, list[str], list[tuple[int, list[str]]]]:
    """(source, header line, header, [(line, cells)]), leading ``#`` lines and blank lines skipped."""
    if path is None:
        ref = resources.files("valuescope.data").joinpath(_DEFAULT)
        source, text = str(ref), ref.read_text(encoding="utf-8-sig")
    else:
        source, text = str(path), read_text(path)
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and (lines[skip].lstrip().startswith("#") or not lines[skip].strip()):
        skip += 1
    # Comment lines become empty lines, so every record keeps its line number in the file.
    body = "\n" * skip + "".join(lines[skip:])
    records = [(line, [c.strip() for c in cells]) for line, cells in csv_rows(body, source)]
    records = [(line, cells) for line, cells in records if any(cells)]
    if not records:
        raise StimulusError(f"{source}: row {skip + 1}: no header; write {','.join(TRANSLATION_COLUMNS)}")
    (header_line, header), rows = records[0], records[1:]
    missing = [c for c in TRANSLATION_COLUMNS if c not in header]
    if missing:
        raise StimulusError(
            f"{source}: row {header_line} (header), column {missing[0]!r}: missing columns "
            f"{', '.join(missing)}; the header must name {', '.join(TRANSLATION_COLUMNS)}"
        )
    return source, header_line, header, rows


def load_translations(
    path: str | Path | None = None,
    statements: pd.DataFrame | None = None,
    queries: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The translations (package file if ``path`` is None) with their English sources.

    One row per (item, language), English included, for every item with at least one translation:
    ``item_id, kind, language, text, source_text, value, reverse``; ``value``/``reverse`` are the English
    statement's (``""``/False for a query). Items come in English file order (statements, then queries),
    languages in :data:`LANGUAGES` order. ``statements`` (``statement_id, value, reverse, text``) and
    ``queries`` (``query_id, query``) default to the package's English files.
    """
    english_statements = _english_statements(statements)
    english_queries = _english_queries(queries)
    source, _, header, rows = _records(path)
    allowed = "one of " + ", ".join(LANGUAGES[1:])
    found: dict[tuple[str, str, str], tuple[str, int]] = {}
    for line, cells in rows:
        check_width(source, header, line, cells)
        item, kind, language, text = (cells[header.index(c)] for c in TRANSLATION_COLUMNS)
        for column, cell in zip(TRANSLATION_COLUMNS, (item, kind, language, text), strict=True):
            if not cell:
                raise fail(source, line, column, "empty", f"fill in the {column}")
        if kind not in KINDS:
            raise fail(source, line, "kind", f"{kind!r} is not one of {', '.join(KINDS)}", "use one of them")
        if language == "en":
            raise fail(
                source,
                line,
                "language",
                "English rows are not translations",
                "drop the row: English comes from the source statements and queries files",
            )
        if language not in LANGUAGES:
            raise fail(source, line, "language", f"{language!r} is not a known language", f"use {allowed}")
        ids = english_statements if kind == "statement" else english_queries
        if item not in ids:
            raise fail(
                source,
                line,
                "item_id",
                f"{item!r} is not among the English {'statements' if kind == 'statement' else 'queries'}",
                f"use the {'statement_id' if kind == 'statement' else 'query_id'} of an English {kind} row",
            )
        if (kind, item, language) in found:
            raise fail(
                source,
                line,
                "language",
                f"{item} {language} repeats row {found[kind, item, language][1]}",
                "give each item one translation per language",
            )
        found[kind, item, language] = (text, line)
    out: list[tuple[str, str, str, str, str, str, bool]] = []
    sources: list[tuple[str, dict[str, tuple[str, str, bool]]]] = [
        ("statement", english_statements),
        ("query", {qid: (text, "", False) for qid, text in english_queries.items()}),
    ]
    for kind, english in sources:
        for item, (source_text, value, reverse) in english.items():
            if not any((kind, item, language) in found for language in LANGUAGES[1:]):
                continue
            for language in LANGUAGES:
                if language == "en":
                    text = source_text
                elif (kind, item, language) in found:
                    text = found[kind, item, language][0]
                else:
                    continue
                out.append((item, kind, language, text, source_text, value, reverse))
    df = pd.DataFrame(out, columns=list(OUTPUT_COLUMNS), dtype=object)
    return df.astype({"reverse": bool})
