"""User text files: ``.txt`` (one text per line), ``.csv`` or ``.jsonl`` with a text column.

Light on purpose (no torch), so the command line checks an input file before it loads a model."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

TEXT_SUFFIXES = (".txt", ".csv", ".jsonl")


def read_texts(path: str | Path, column: str | None = None) -> list[str]:
    """Texts from ``.txt`` (one per non-empty line), ``.csv`` (column ``text``, the only column, or
    ``column``) or ``.jsonl`` (field ``text`` or ``column``); one-line errors name the file and row."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; pass a .txt, .csv or .jsonl file of texts")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .txt, .csv or .jsonl")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from e
    if suffix == ".txt":
        if column is not None:
            raise ValueError(f"{path}: column={column!r} applies to .csv and .jsonl files, not .txt")
        texts = [line.strip() for line in content.splitlines() if line.strip()]
    elif suffix == ".csv":
        texts = _read_csv(path, content, column)
    else:
        texts = _read_jsonl(path, content, column or "text")
    if not texts:
        raise ValueError(f"{path} holds no texts; add at least one non-empty text")
    return texts


def _read_csv(path: Path, content: str, column: str | None) -> list[str]:
    reader = csv.reader(io.StringIO(content))
    try:
        return _csv_rows(path, reader, column)
    except csv.Error as e:
        raise ValueError(f"{path} line {reader.line_num} is not valid CSV ({e}); fix that row") from e


def _csv_rows(path: Path, reader: Any, column: str | None) -> list[str]:
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path} is empty; it needs a header row and one text per row")
    header = [h.strip() for h in header]
    if column is not None:
        if column not in header:
            raise ValueError(f"{path} has no column {column!r}; its columns are {header}")
        col = column
    elif "text" in header:
        col = "text"
    elif len(header) == 1:
        col = header[0]
    else:
        raise ValueError(
            f"{path} has no 'text' column and several columns {header}; choose one with --column NAME"
        )
    index = header.index(col)
    texts = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if index >= len(row):
            raise ValueError(f"{path} line {line} has {len(row)} fields, no {col!r}; fix that row")
        text = row[index]
        if not text.strip():
            raise ValueError(f"{path} line {line}: column {col!r} is empty; remove the row or give it text")
        texts.append(text)
    return texts


def _read_jsonl(path: Path, content: str, field: str) -> list[str]:
    texts = []
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} line {line_no} is not valid JSON ({e.msg}); fix or remove it") from e
        if not isinstance(row, dict):
            raise ValueError(
                f"{path} line {line_no} is a JSON {type(row).__name__}; each line must be an object "
                f'like {{"{field}": "..."}}'
            )
        if field not in row:
            raise ValueError(
                f"{path} line {line_no} has no field {field!r} (fields: {sorted(row)}); "
                "add it or choose another with --column NAME"
            )
        text = row[field]
        if not isinstance(text, str):
            raise ValueError(
                f"{path} line {line_no}: field {field!r} is {type(text).__name__}, not a string; quote it"
            )
        if not text.strip():
            raise ValueError(f"{path} line {line_no}: field {field!r} is empty; remove the line or fill it")
        texts.append(text)
    return texts
