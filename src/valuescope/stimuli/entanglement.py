"""Stimuli of the entanglement study: authored package files and user files of the same schema.

Moral x grammar (``entanglement_grammar.csv``), one row per item::

    item_id,frame,pair,base,valence,version,error_type,text

``frame`` groups base sentences built on one sentence frame (the unit of every split and resample);
``pair`` is a morally good and a morally bad base sentence matched in length and structure; ``base``
is one base sentence, in a ``grammatical`` and an ``ungrammatical`` version; ``valence`` is good or
bad; ``error_type`` is ``none`` for grammatical rows, else one of ERROR_TYPES, the same for both
members of a pair.

Moral x economic (``entanglement_economic.csv``)::

    item_id,frame,pair,base,valence,version,text

with ``version`` good_deal or bad_deal (the deal's value follows from the numbers in the text alone).

Moral-only items for fitting the moral direction (``entanglement_moral.csv``)::

    item_id,frame,pair,valence,text

Optional human ratings: ``item_id`` and one or more of ``grammatical``, ``economic``, ``moral``
(mean rating per kind of good).
"""

from __future__ import annotations

from importlib import resources
from io import StringIO
from pathlib import Path

import pandas as pd

ERROR_TYPES = (
    "agreement",
    "tense",
    "word_order",
    "article",
    "missing_word",
    "repetition",
    "preposition",
    "plural",
)
VERSIONS = {"grammar": ("grammatical", "ungrammatical"), "economic": ("good_deal", "bad_deal")}
COLUMNS = {
    "grammar": ("item_id", "frame", "pair", "base", "valence", "version", "error_type", "text"),
    "economic": ("item_id", "frame", "pair", "base", "valence", "version", "text"),
    "moral": ("item_id", "frame", "pair", "valence", "text"),
}
HUMAN_COLUMNS = ("grammatical", "economic", "moral")


class StimulusError(ValueError):
    """A stimulus file that cannot be used; the message names the file, row and column."""


def _read(kind: str, path: str | Path | None) -> tuple[pd.DataFrame, str]:
    if path is None:
        name = f"entanglement_{kind}.csv"
        text = resources.files("valuescope.stimuli").joinpath(f"data/{name}").read_text("utf-8")
        return pd.read_csv(StringIO(text), dtype=str, keep_default_na=False), f"built-in {name}"
    p = Path(path)
    if not p.is_file():
        raise StimulusError(f"stimulus file {p} does not exist")
    return pd.read_csv(p, dtype=str, keep_default_na=False), str(p)


def _fail(source: str, row: int | None, column: str, problem: str) -> StimulusError:
    where = f"{source}, row {row + 2}" if row is not None else source  # +2: header and 1-based lines
    return StimulusError(f"{where}, column {column!r}: {problem}")


def _check_common(df: pd.DataFrame, kind: str, source: str) -> None:
    missing = [c for c in COLUMNS[kind] if c not in df.columns]
    if missing:
        raise StimulusError(
            f"{source}: missing columns {', '.join(missing)}; needed: {', '.join(COLUMNS[kind])}"
        )
    for column in COLUMNS[kind]:
        empty = df.index[df[column].str.strip() == ""]
        if len(empty):
            raise _fail(source, int(empty[0]), column, "empty value")
    dup = df.index[df["item_id"].duplicated()]
    if len(dup):
        raise _fail(
            source, int(dup[0]), "item_id", f"duplicate id {df['item_id'][dup[0]]!r}; ids must be unique"
        )
    bad = df.index[~df["valence"].isin(["good", "bad"])]
    if len(bad):
        raise _fail(source, int(bad[0]), "valence", f"{df['valence'][bad[0]]!r} is not good or bad")


def _check_balance(df: pd.DataFrame, unit: str, source: str) -> None:
    """Every pair holds exactly one good and one bad ``unit``; every frame as many good as bad."""
    for pair, rows in df.groupby("pair", sort=False):
        per = rows.drop_duplicates(unit)["valence"].value_counts()
        if per.get("good", 0) != 1 or per.get("bad", 0) != 1:
            problem = f"pair {pair!r} needs exactly one good and one bad {unit}, has {dict(per)}"
            raise _fail(source, int(rows.index[0]), "pair", problem)
    for frame, rows in df.groupby("frame", sort=False):
        per = rows.drop_duplicates(unit)["valence"].value_counts()
        if per.get("good", 0) != per.get("bad", 0):
            raise _fail(source, int(rows.index[0]), "frame", f"frame {frame!r} is unbalanced: {dict(per)}")


def _check_versions(df: pd.DataFrame, domain: str, source: str) -> None:
    allowed = VERSIONS[domain]
    bad = df.index[~df["version"].isin(allowed)]
    if len(bad):
        raise _fail(
            source, int(bad[0]), "version", f"{df['version'][bad[0]]!r} is not one of {', '.join(allowed)}"
        )
    for base, rows in df.groupby("base", sort=False):
        if (
            sorted(rows["version"]) != sorted(allowed)
            or rows["valence"].nunique() != 1
            or rows["pair"].nunique() != 1
        ):
            problem = (
                f"base {base!r} needs exactly the versions {', '.join(allowed)}, one valence and one pair"
            )
            raise _fail(source, int(rows.index[0]), "base", problem)


def load_grammar(path: str | Path | None = None) -> pd.DataFrame:
    """Moral x grammar items (the package file, or a user CSV of the same schema), validated."""
    df, source = _read("grammar", path)
    _check_common(df, "grammar", source)
    _check_versions(df, "grammar", source)
    _check_balance(df, "base", source)
    ok = df["version"] == "grammatical"
    wrong = df.index[ok & (df["error_type"] != "none")]
    if len(wrong):
        raise _fail(source, int(wrong[0]), "error_type", "a grammatical row must have error_type none")
    unknown = df.index[~ok & ~df["error_type"].isin(ERROR_TYPES)]
    if len(unknown):
        raise _fail(source, int(unknown[0]), "error_type",
                    f"{df['error_type'][unknown[0]]!r} is not one of {', '.join(ERROR_TYPES)}")  # fmt: skip
    for pair, rows in df[~ok].groupby("pair", sort=False):
        if rows["error_type"].nunique() != 1:
            raise _fail(
                source, int(rows.index[0]), "error_type", f"pair {pair!r} mixes error types; match them"
            )
    return df


def load_economic(path: str | Path | None = None) -> pd.DataFrame:
    """Moral x economic items, validated."""
    df, source = _read("economic", path)
    _check_common(df, "economic", source)
    _check_versions(df, "economic", source)
    _check_balance(df, "base", source)
    return df


def load_moral(path: str | Path | None = None) -> pd.DataFrame:
    """Moral-only items (never used in the tests), validated."""
    df, source = _read("moral", path)
    _check_common(df, "moral", source)
    _check_balance(df, "item_id", source)
    return df


def load_human_ratings(path: str | Path) -> pd.DataFrame:
    """Optional human ratings: ``item_id`` and numeric ``grammatical``/``economic``/``moral`` columns."""
    p = Path(path)
    if not p.is_file():
        raise StimulusError(f"human ratings file {p} does not exist")
    df = pd.read_csv(p, dtype={"item_id": str})
    if "item_id" not in df.columns or not set(HUMAN_COLUMNS) & set(df.columns):
        raise StimulusError(f"{p}: needs item_id and at least one of {', '.join(HUMAN_COLUMNS)}")
    for column in HUMAN_COLUMNS:
        if column in df.columns:
            values = pd.to_numeric(df[column], errors="coerce")
            bad = df.index[values.isna()]
            if len(bad):
                raise _fail(str(p), int(bad[0]), column, f"{df[column][bad[0]]!r} is not a number")
            df[column] = values
    dup = df.index[df["item_id"].duplicated()]
    if len(dup):
        raise _fail(str(p), int(dup[0]), "item_id", "duplicate id")
    return df


def check_human_ratings(ratings: pd.DataFrame, stimuli: pd.DataFrame) -> None:
    """Every stimulus item needs a human rating."""
    absent = sorted(set(stimuli["item_id"]) - set(ratings["item_id"]))
    if absent:
        raise StimulusError(f"human ratings lack {len(absent)} items, e.g. {absent[0]!r}; rate every item")
