"""Authored stimuli of the mechanisms study (intrinsic vs prompted value expression), loaded and validated.

After Han, Lim, Kong & Jo, "Dual Mechanisms of Value Expression": a model answers everyday queries with no
instruction (the values it expresses on its own) and under a framing that asks for one Schwartz value
(the values it can be prompted to express); it also rates first-person value statements about itself.
Package files live in ``valuescope/data/``; a user file of the same schema may replace any of them.
Files are UTF-8 CSV with a header row; extra columns are kept; surrounding whitespace in cells is dropped;
every listed column must be present and every cell non-empty. Values may be spelled any way
:func:`~valuescope.data.values.canonical_value` accepts and come out canonical (``self_direction``).

The everyday queries (``mechanisms_queries.csv``) are shared with other studies:
:mod:`valuescope.data.queries`.

``mechanisms_framings.csv``, columns ``value,style,paraphrase,text``:

- ``value``: one of the ten Schwartz values; every value needs at least one row of each style.
- ``style``: ``system`` (a system prompt for chat models asking the assistant to put the value first) |
  ``preface`` (a completion-style preface for base models, "The following answer was written by ...").
- ``paraphrase``: an integer >= 0, unique within a value and style (package: 0, 1, 2).
- ``text``: the framing itself, describing the value's goals; unique.

``mechanisms_statements.csv``, columns ``statement_id,value,reverse,text``:

- ``statement_id``: unique (package: ``s-power-1``). ``value``: one of the ten; every value needs one or more.
- ``reverse``: ``1``/``true`` if agreeing expresses the value's opposite (reverse-keyed), ``0``/``false``
  otherwise. ``text``: a first-person statement to rate for agreement; unique.
- optional ``questionnaire``: the statements' source; ``valuescope`` when absent.

Problems raise :class:`~valuescope.data.csvfile.StimulusError` with one line naming the file, the CSV
line (1-based, header = 1), the column, and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import LINE, StimulusError, check_unique, fail, finish, read_frame, value_cell
from valuescope.data.values import SCHWARTZ_VALUES

FRAMING_COLUMNS = ("value", "style", "paraphrase", "text")
STATEMENT_COLUMNS = ("statement_id", "value", "reverse", "text")
STYLES = ("system", "preface")
QUESTIONNAIRE = "valuescope"

_TRUE, _FALSE = ("1", "true"), ("0", "false")


def _canonical_values(source: str, df: pd.DataFrame) -> None:
    out = []
    for name, line in zip(df["value"], df[LINE], strict=True):
        out.append(value_cell(name, source, line))
    df["value"] = pd.Series(out, index=df.index, dtype=object)


def _every_value(source: str, df: pd.DataFrame, what: str, style: str | None = None) -> None:
    present = set(df["value"] if style is None else df.loc[df["style"] == style, "value"])
    for value in SCHWARTZ_VALUES:
        if value not in present:
            kind = "" if style is None else f" of style {style!r}"
            raise StimulusError(
                f"{source}: column 'value': value {value!r} has no {what}{kind}; "
                f"add one or more rows{kind} for {value}"
            )


def load_framings(path: str | Path | None = None) -> pd.DataFrame:
    """The value framings (package file if ``path`` is None): ``value, style, paraphrase (int), text``."""
    source, df = read_frame(path, "mechanisms_framings.csv", FRAMING_COLUMNS)
    _canonical_values(source, df)
    numbers = []
    for style, number, line in zip(df["style"], df["paraphrase"], df[LINE], strict=True):
        if style not in STYLES:
            raise fail(
                source,
                line,
                "style",
                f"{style!r} is not one of {', '.join(STYLES)}",
                "use system (a chat system prompt) or preface (a base-model preface)",
            )
        if not (number.isascii() and number.isdigit()):
            raise fail(
                source,
                line,
                "paraphrase",
                f"{number!r} is not a whole number >= 0",
                "number the paraphrases of a value and style 0, 1, 2, ...",
            )
        numbers.append(int(number))
    df["paraphrase"] = numbers
    seen: dict[tuple[str, str, int], int] = {}
    for value, style, number, line in zip(df["value"], df["style"], numbers, df[LINE], strict=True):
        if (value, style, number) in seen:
            raise fail(
                source,
                line,
                "paraphrase",
                f"{value} {style} paraphrase {number} repeats row {seen[value, style, number]}",
                "give each paraphrase of a value and style its own number",
            )
        seen[value, style, number] = line
    check_unique(source, df, "text", "write a distinct text for every framing")
    for style in STYLES:
        _every_value(source, df, "framing", style)
    df = df.astype({"paraphrase": int})
    return finish(df)


def load_statements(path: str | Path | None = None) -> pd.DataFrame:
    """The value statements (package file if ``path`` is None).

    Columns ``statement_id, value, reverse (bool), text, questionnaire`` (``valuescope`` unless the file
    has its own ``questionnaire`` column), then any extra columns.
    """
    source, df = read_frame(path, "mechanisms_statements.csv", STATEMENT_COLUMNS, id_column="statement_id")
    _canonical_values(source, df)
    flags = []
    for cell, line in zip(df["reverse"], df[LINE], strict=True):
        if cell.lower() not in _TRUE + _FALSE:
            raise fail(
                source,
                line,
                "reverse",
                f"{cell!r} is not 0, 1, true or false",
                "write 1 for a reverse-keyed statement, 0 otherwise",
            )
        flags.append(cell.lower() in _TRUE)
    df["reverse"] = pd.Series(flags, index=df.index, dtype=bool)
    check_unique(source, df, "text", "write every statement once")
    _every_value(source, df, "statement")
    if "questionnaire" in df.columns:
        for cell, line in zip(df["questionnaire"], df[LINE], strict=True):
            if not cell:
                raise fail(source, line, "questionnaire", "empty", "name the statement's questionnaire")
    else:
        df["questionnaire"] = pd.Series(QUESTIONNAIRE, index=df.index, dtype=object)
    order = [*STATEMENT_COLUMNS, "questionnaire"]
    return finish(df[order + [c for c in df.columns if c not in order]])
