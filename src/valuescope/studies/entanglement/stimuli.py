"""Authored stimuli of the value-entanglement study (Cho, Li & Leshinskaya 2026), loaded and validated.

Does moral goodness leak into grammatical and economic judgments? Each domain file crosses moral valence
with a non-moral level whose human norm is known by construction (neither grammaticality nor a deal's
value depends on valence). Package files live in ``valuescope/data/``; a user file of the same
schema may replace any of them. Files are UTF-8 CSV with a header row; extra columns are kept; surrounding
whitespace in cells is dropped; every listed column must be present and every cell non-empty.

``entanglement_grammar.csv`` (moral x grammar), columns
``item_id,frame,pair,base,valence,version,error_type,text``:

- ``item_id``: unique per row (package: ``g-f01-p1-good-ok``).
- ``frame``: a sentence structure, the sampling unit; equally many good and bad bases, hence equal cells.
- ``pair``: one good and one bad base of the same frame, matched in length and structure.
- ``base``: one base sentence; exactly one ``grammatical`` and one ``ungrammatical`` row, one valence.
- ``valence``: ``good`` | ``bad``. ``version``: ``grammatical`` | ``ungrammatical``.
- ``error_type``: ``none`` on grammatical rows; on ungrammatical rows one of ``agreement``, ``word_order``,
  ``tense``, ``article``, ``preposition``, ``missing_word``, ``plural``, the same for both bases of a pair.

``entanglement_economic.csv`` (moral x economic), columns ``item_id,frame,pair,base,valence,version,text``:
as above with ``version`` ``good_deal`` | ``bad_deal`` (each base has one of each; the economic value is
fixed by the numbers in the text and identical across a pair).

``entanglement_moral.csv`` (moral-only items), columns ``item_id,frame,pair,valence,text``: every pair
holds exactly one good and one bad item; frames share no scene with the two domain files.

Human ratings (optional, :func:`load_human_ratings`), columns ``item_id`` and one or more of
``grammatical``, ``economic``, ``moral``: the mean human rating of that kind of good; blank = not rated.
:func:`check_human_ratings` then requires a rating for every stimulus item in use (and, if asked, no
rated id outside them).

Problems raise :class:`StimulusError` with one line naming the file, the CSV line (1-based, header = 1),
the column, and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import LINE as _LINE
from valuescope.data.csvfile import StimulusError, read_frame
from valuescope.data.csvfile import fail as _fail
from valuescope.data.csvfile import finish as _finish
from valuescope.data.csvfile import read_records as _read

VALENCES = ("good", "bad")
GRAMMAR_VERSIONS = ("grammatical", "ungrammatical")
ECONOMIC_VERSIONS = ("good_deal", "bad_deal")
ERROR_TYPES = ("agreement", "word_order", "tense", "article", "preposition", "missing_word", "plural")
HUMAN_KINDS = ("grammatical", "economic", "moral")

GRAMMAR_COLUMNS = ("item_id", "frame", "pair", "base", "valence", "version", "error_type", "text")
ECONOMIC_COLUMNS = ("item_id", "frame", "pair", "base", "valence", "version", "text")
MORAL_COLUMNS = ("item_id", "frame", "pair", "valence", "text")


def _frame(path: str | Path | None, default: str, columns: Sequence[str]) -> tuple[str, pd.DataFrame]:
    """The file as strings (plus its CSV line per row), with header, cells and unique item ids checked."""
    return read_frame(path, default, columns, id_column="item_id")


def _check_labels(source: str, df: pd.DataFrame, column: str, allowed: Sequence[str]) -> None:
    for value, line in zip(df[column], df[_LINE], strict=True):
        if value not in allowed:
            raise _fail(
                source,
                line,
                column,
                f"{value!r} is not one of {', '.join(allowed)}",
                "use one of those labels",
            )


def _check_error_types(source: str, df: pd.DataFrame) -> None:
    for version, etype, line in zip(df["version"], df["error_type"], df[_LINE], strict=True):
        if version == "grammatical" and etype != "none":
            raise _fail(
                source,
                line,
                "error_type",
                f"a grammatical row needs error_type none, found {etype!r}",
                "set it to none or mark the row ungrammatical",
            )
        if version == "ungrammatical" and etype == "none":
            raise _fail(
                source,
                line,
                "error_type",
                "an ungrammatical row needs an error type, found none",
                f"name its error ({', '.join(ERROR_TYPES)})",
            )


def _constant(source: str, df: pd.DataFrame, group: str, column: str, what: str) -> None:
    """``column`` takes one value within each ``group`` (e.g. one valence per base)."""
    for key, rows in df.groupby(group, sort=False):
        if rows[column].nunique() > 1:
            odd = rows[rows[column] != rows[column].iloc[0]].iloc[0]
            raise _fail(
                source,
                int(odd[_LINE]),
                column,
                f"{group} {key!r} mixes {column} {rows[column].iloc[0]!r} and {odd[column]!r}",
                f"give all rows of a {group} the same {column} ({what})",
            )


def _check_group_values(
    source: str, df: pd.DataFrame, group: str, column: str, values: Sequence[str], noun: str, fix: str
) -> None:
    """Each ``group`` holds ``values`` in ``column``, one row each; else name the first group that does not
    and what it has (``noun``)."""
    for key, rows in df.groupby(group, sort=False):
        if sorted(rows[column]) != sorted(values):
            problem = f"{group} {key!r} has {noun} {', '.join(rows[column])}"
            raise _fail(source, int(rows[_LINE].iloc[0]), group, problem, fix)


def _check_bases(source: str, df: pd.DataFrame, versions: Sequence[str]) -> None:
    fix = f"give each base exactly one row per version ({', '.join(versions)})"
    _check_group_values(source, df, "base", "version", versions, "versions", fix)
    _constant(source, df, "base", "valence", "valence belongs to the base")
    _constant(source, df, "base", "pair", "a base belongs to one pair")


def _check_pairs(source: str, df: pd.DataFrame, unit: str) -> None:
    units = df.drop_duplicates(unit) if unit != "item_id" else df
    noun = "bases" if unit == "base" else "items"
    fix = f"a pair needs exactly one good and one bad {noun[:-1]}"
    _check_group_values(source, units, "pair", "valence", VALENCES, noun, fix)
    _constant(source, df, "pair", "frame", "a pair belongs to one frame")


def _check_frames(source: str, df: pd.DataFrame) -> None:
    """Every frame holds equally many good and bad rows, in every version (its cells are balanced)."""
    version = df["version"] if "version" in df.columns else pd.Series("", index=df.index)
    for key, rows in df.groupby("frame", sort=False):
        counts = pd.crosstab(rows["valence"], version[rows.index]).reindex(list(VALENCES), fill_value=0)
        good, bad = counts.loc["good"].to_numpy(), counts.loc["bad"].to_numpy()
        if (good != bad).any() or good.sum() == 0:
            raise _fail(
                source,
                int(rows[_LINE].iloc[0]),
                "frame",
                f"frame {key!r} is unbalanced ({int(good.sum())} good and {int(bad.sum())} bad rows"
                + (" over unequal versions)" if good.sum() == bad.sum() else ")"),
                "give every frame equally many good and bad rows in every version",
            )


def _check_pair_errors(source: str, df: pd.DataFrame) -> None:
    wrong = df[df["version"] == "ungrammatical"]
    for _, rows in wrong.groupby("pair", sort=False):
        first = rows.iloc[0]
        for _, row in rows.iloc[1:].iterrows():
            if row["error_type"] != first["error_type"]:
                raise _fail(
                    source,
                    int(row[_LINE]),
                    "error_type",
                    f"{row['error_type']!r} differs from its pair partner's {first['error_type']!r} "
                    f"(row {first[_LINE]})",
                    "give both ungrammatical versions of a pair the same error at the same place",
                )


def load_grammar(path: str | Path | None = None) -> pd.DataFrame:
    """The moral x grammar stimuli (package file if ``path`` is None), validated."""
    source, df = _frame(path, "entanglement_grammar.csv", GRAMMAR_COLUMNS)
    _check_labels(source, df, "valence", VALENCES)
    _check_labels(source, df, "version", GRAMMAR_VERSIONS)
    _check_labels(source, df, "error_type", ("none", *ERROR_TYPES))
    _check_error_types(source, df)
    _check_bases(source, df, GRAMMAR_VERSIONS)
    _check_pairs(source, df, "base")
    _check_pair_errors(source, df)
    _check_frames(source, df)
    return _finish(df)


def load_economic(path: str | Path | None = None) -> pd.DataFrame:
    """The moral x economic stimuli (package file if ``path`` is None), validated."""
    source, df = _frame(path, "entanglement_economic.csv", ECONOMIC_COLUMNS)
    _check_labels(source, df, "valence", VALENCES)
    _check_labels(source, df, "version", ECONOMIC_VERSIONS)
    _check_bases(source, df, ECONOMIC_VERSIONS)
    _check_pairs(source, df, "base")
    _check_frames(source, df)
    return _finish(df)


def load_moral(path: str | Path | None = None) -> pd.DataFrame:
    """The moral-only items (package file if ``path`` is None), validated."""
    source, df = _frame(path, "entanglement_moral.csv", MORAL_COLUMNS)
    _check_labels(source, df, "valence", VALENCES)
    _check_pairs(source, df, "item_id")
    _check_frames(source, df)
    return _finish(df)


def load_human_ratings(path: str | Path) -> pd.DataFrame:
    """Mean human ratings per item: ``item_id`` plus float columns among ``grammatical/economic/moral``.

    Blank cells are NaN (not rated); ``attrs['source']`` and ``attrs['lines']`` (CSV line per row) are kept
    for :func:`check_human_ratings`.
    """
    source, header, records = _read(path, "")
    kinds = [k for k in HUMAN_KINDS if k in header]
    if "item_id" not in header or not kinds:
        absent = "item_id" if "item_id" not in header else "grammatical"
        raise StimulusError(
            f"{source}: row 1 (header), column {absent!r}: missing columns "
            f"{'item_id' if absent == 'item_id' else 'grammatical/economic/moral'}; "
            f"the header must name item_id and one or more of {', '.join(HUMAN_KINDS)}"
        )
    columns = ["item_id", *kinds]
    rows: list[list[object]] = []
    seen: dict[str, int] = {}
    for line, cells in records:
        if len(cells) != len(header):
            raise StimulusError(
                f"{source}: row {line}, column 'item_id': {len(cells)} cells for "
                f"{len(header)} columns; quote cells that contain commas"
            )
        item = cells[header.index("item_id")]
        if not item:
            raise _fail(source, line, "item_id", "empty", "fill in the item_id")
        if item in seen:
            raise _fail(
                source, line, "item_id", f"{item!r} repeats row {seen[item]}", "give each item one row"
            )
        seen[item] = line
        row: list[object] = [item]
        for kind in kinds:
            cell = cells[header.index(kind)]
            try:
                value = float(cell) if cell else float("nan")
            except ValueError:
                raise _fail(source, line, kind, f"{cell!r} is not a number",
                            "write the mean rating as a number, or leave it blank") from None  # fmt: skip
            row.append(value)
        rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    out = out.astype({k: float for k in kinds})
    out.attrs["source"] = source
    out.attrs["lines"] = [line for line, _ in records]
    return out


def check_human_ratings(
    ratings: pd.DataFrame, stimuli: pd.DataFrame, column: str | None = None, *, exhaustive: bool = False
) -> None:
    """Raise :class:`StimulusError` unless every item of ``stimuli`` is rated.

    With ``column``, every stimulus item needs a (non-blank) rating in that column. With ``exhaustive``,
    every rated ``item_id`` must also be one of ``stimuli``'s (off by default: one ratings file may cover
    several domains or more frames than a run uses).
    """
    source = ratings.attrs.get("source", "human ratings")
    lines = ratings.attrs.get("lines")
    if lines is None or len(lines) != len(ratings):
        lines = list(range(2, len(ratings) + 2))
    if column is not None and column not in ratings.columns:
        raise StimulusError(f"{source}: row 1 (header), column {column!r}: missing; add the {column} ratings")
    rated = ratings if column is None else ratings[ratings[column].notna()]
    absent = [i for i in stimuli["item_id"].astype(str) if i not in set(rated["item_id"].astype(str))]
    if absent:
        what = "item_id" if column is None else column
        raise StimulusError(
            f"{source}: column {what!r}: {len(absent)} stimulus items lack a rating, e.g. {absent[0]!r}; "
            "rate every item of the stimulus files in use"
        )
    if exhaustive:
        known = set(stimuli["item_id"].astype(str))
        unknown = [i for i, item in enumerate(ratings["item_id"].astype(str)) if item not in known]
        if unknown:
            item = ratings["item_id"].iloc[unknown[0]]
            raise _fail(
                source,
                int(lines[unknown[0]]),
                "item_id",
                f"{item!r} is not a stimulus item ({len(unknown)} unknown ids in all)",
                "rate only items of the stimulus files in use, with their item_id",
            )
