"""Reading stimulus CSV files: cells stripped, CSV line numbers kept, schema problems raised as one line.

Every stimulus loader reads through here, so every bad file fails the same way: :class:`StimulusError`
naming the file, the CSV line (1-based, header = 1), the column, and the fix. A file that is not
UTF-8 text, or whose quoting is broken, fails the same way (:func:`read_text`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Sequence
from importlib import resources
from pathlib import Path

import pandas as pd

LINE = "_line"
"""Column holding each row's CSV line while a loader checks it; :func:`finish` drops it."""


class StimulusError(ValueError):
    """A stimulus, questionnaire or human-data file that breaks its schema."""


def fail(source: str, line: int, column: str, problem: str, fix: str) -> StimulusError:
    return StimulusError(f"{source}: row {line}, column {column!r}: {problem}; {fix}")


def value_cell(name: str, source: str, line: int, column: str = "value") -> str:
    """The canonical Schwartz value of a cell, or a ``StimulusError`` naming the file, row and column."""
    from valuescope.data.values import SCHWARTZ_VALUES, UnknownValueError, canonical_value

    try:
        return canonical_value(name, source)
    except UnknownValueError as e:
        raise fail(
            source, line, column, e.problem(name), f"name one of {', '.join(SCHWARTZ_VALUES)} (any spelling)"
        ) from None


def read_text(path: str | Path) -> str:
    """The text of a data file (UTF-8, a byte-order mark dropped); a file that is not UTF-8 raises a
    :class:`StimulusError` naming it, the line and the byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise StimulusError(
            f"{path}: line {line}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); "
            "save the file as UTF-8"
        ) from None


def utf8_lines(path: str | Path) -> Generator[str, None, None]:
    """The lines of a large data file, streamed (line endings kept, a byte-order mark dropped); a line
    that is not UTF-8 raises a :class:`StimulusError` naming the file and the line."""
    with Path(path).open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise StimulusError(
                    f"{path}: line {number}: not UTF-8 text (byte {raw[e.start]:#04x}); save it as UTF-8"
                ) from None
            yield text


def csv_rows(text: str, source: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """[(line where the record starts, cells)] of CSV/TSV ``text``; broken quoting raises a
    :class:`StimulusError` naming ``source`` and the line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise StimulusError(
            f"{source}: row {start}: malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({e}); "
            'quote a cell that holds the delimiter, a quote or a line break, and double its quotes ("")'
        ) from None
    return rows


def read_records(path: str | Path | None, default: str) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    """(source name, header, [(CSV line of the record, cells)]), skipping blank lines.

    ``path`` None reads the package file ``valuescope/data/<default>``.
    """
    if path is None:
        ref = resources.files("valuescope.data").joinpath(default)
        source, text = str(ref), ref.read_text(encoding="utf-8-sig")
    else:
        source, text = str(path), read_text(path)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    for start, cells in csv_rows(text, source):
        if cells and any(c.strip() for c in cells):
            if header is None:
                header = [c.strip() for c in cells]
            else:
                records.append((start, [c.strip() for c in cells]))
    if header is None:
        raise StimulusError(f"{source}: row 1: the file is empty; write a header row and one row per item")
    return source, header, records


def check_header(source: str, header: Sequence[str], columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise StimulusError(
            f"{source}: row 1 (header), column {missing[0]!r}: missing columns {', '.join(missing)}; "
            f"the header must name {', '.join(columns)}"
        )


def check_width(source: str, header: Sequence[str], line: int, cells: Sequence[str]) -> None:
    if len(cells) != len(header):
        raise StimulusError(
            f"{source}: row {line}, column {header[min(len(cells), len(header)) - 1]!r}: "
            f"{len(cells)} cells for {len(header)} columns; quote cells that contain commas"
        )


def read_frame(
    path: str | Path | None, default: str, columns: Sequence[str], id_column: str | None = None
) -> tuple[str, pd.DataFrame]:
    """The file as strings (plus its CSV line per row in :data:`LINE`), header and cells checked.

    The listed ``columns`` come first, then any extra columns of the file; every listed cell must be
    non-empty, and ``id_column`` (if given) unique.
    """
    source, header, records = read_records(path, default)
    check_header(source, header, columns)
    rows = []
    for line, cells in records:
        check_width(source, header, line, cells)
        for column in columns:
            if not cells[header.index(column)]:
                raise fail(source, line, column, "empty", f"fill in the {column}")
        rows.append(cells)
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df = df[list(columns) + [c for c in header if c not in columns]]
    df[LINE] = [line for line, _ in records]
    if id_column is not None:
        check_unique(source, df, id_column, f"give every row its own {id_column}")
    return source, df


def check_unique(source: str, df: pd.DataFrame, column: str, fix: str) -> None:
    """Raise on the first cell of ``column`` that repeats an earlier row's."""
    first: dict[str, int] = {}
    for value, line in zip(df[column], df[LINE], strict=True):
        if value in first:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise fail(source, line, column, f"{shown!r} repeats row {first[value]}", fix)
        first[value] = line


def finish(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[LINE]).reset_index(drop=True)
