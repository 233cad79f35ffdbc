"""Neutral instructions with one checkable constraint each: the package's ``instructions.csv`` or a user
file of the same schema (UTF-8 CSV, header row). The checkers are in
:mod:`valuescope.instruments.constraints`.

``instructions.csv``, columns ``instruction_id,constraint,argument,text``:

- ``instruction_id``: unique (package: ``ins001``). ``text``: a harmless request that states its
  constraint plainly and names the argument (``'Yes'`` in quotes, ``12 words``, ``French``...); unique.
- ``constraint`` and ``argument`` (the only cell that may be empty, for ``json``):

  ============ ================================ ==================================================
  constraint   argument                         the answer must
  ============ ================================ ==================================================
  max_words    a whole number N >= 1            have at most N words
  starts_with  one word                         begin with that word
  language     ``fr``, ``es`` or ``de``          be written in French, Spanish or German
  include      one word                         use the word (or its plural)
  avoid        one word                         not use the word (nor its plural)
  json         empty, or keys joined by commas  hold a JSON object or array (an object with the keys)
  ============ ================================ ==================================================

Problems raise :class:`~valuescope.data.csvfile.StimulusError` naming the file, the CSV line and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import LINE, check_header, check_unique, fail, finish, read_frame

INSTRUCTION_COLUMNS = ("instruction_id", "constraint", "argument", "text")
CONSTRAINTS = ("max_words", "starts_with", "language", "include", "avoid", "json")
KINDS = ", ".join(CONSTRAINTS)
LANGUAGES = {"fr": "French", "es": "Spanish", "de": "German"}
"""The languages an instruction may ask for, by code."""
ARGUMENTS = {
    "max_words": "a whole number of words >= 1",
    "starts_with": "one word",
    "language": "one of " + ", ".join(LANGUAGES),
    "include": "one word",
    "avoid": "one word",
    "json": "nothing, or the required keys joined by commas (name,age)",
}
"""What each constraint's argument is."""

WORD = re.compile(r"\w+(?:['’-]\w+)*")
"""One word: word characters, with inner apostrophes or hyphens (``don't``, ``well-known``)."""
_KEY = re.compile(r"[A-Za-z_]\w*")


def json_keys(argument: str) -> tuple[str, ...]:
    """The required keys of a ``json`` argument (none when it is empty)."""
    return tuple(k.strip() for k in argument.split(",")) if argument.strip() else ()


def argument_problem(constraint: str, argument: str) -> str | None:
    """What is wrong with ``argument`` for ``constraint`` (see :data:`ARGUMENTS`), or None if it is fine."""
    if constraint not in CONSTRAINTS:
        return f"unknown constraint {constraint!r} (use one of {KINDS})"
    if constraint == "json":
        bad = [k for k in json_keys(argument) if not _KEY.fullmatch(k)]
        return f"{bad[0]!r} is not a key name" if bad else None
    if not argument:
        return "empty"
    if constraint == "max_words":
        return (
            None if argument.isdigit() and int(argument) >= 1 else f"{argument!r} is not a whole number >= 1"
        )
    if constraint == "language":
        return None if argument in LANGUAGES else f"{argument!r} is not a language code here"
    return None if WORD.fullmatch(argument) else f"{argument!r} is not one word"


def _states(constraint: str, argument: str, text: str) -> str | None:
    """How the text should name its argument, or None if it does."""
    if constraint == "max_words":
        needed = f"{int(argument)} words"
        return None if re.search(rf"\b{needed}\b", text) else needed
    if constraint == "language":
        return None if LANGUAGES[argument] in text else LANGUAGES[argument]
    if constraint == "json":
        names = ["JSON", *(f"'{k}'" for k in json_keys(argument))]
        return next((n for n in names if n not in text), None)
    return None if f"'{argument}'" in text else f"'{argument}'"


def load_instructions(path: str | Path | None = None) -> pd.DataFrame:
    """The constrained instructions (package file if ``path`` is None):
    ``instruction_id, constraint, argument, text``, validated."""
    required = ("instruction_id", "constraint", "text")
    source, df = read_frame(path, "instructions.csv", required, id_column="instruction_id")
    check_header(source, list(df.columns), INSTRUCTION_COLUMNS)
    df = df[[*INSTRUCTION_COLUMNS, *(c for c in df.columns if c not in INSTRUCTION_COLUMNS)]]
    check_unique(source, df, "text", "give every instruction its own text")
    for constraint, argument, text, line in zip(
        df["constraint"], df["argument"], df["text"], df[LINE], strict=True
    ):
        if constraint not in CONSTRAINTS:
            raise fail(
                source,
                line,
                "constraint",
                f"{constraint!r} is unknown",
                f"use one of {', '.join(CONSTRAINTS)}",
            )
        problem = argument_problem(constraint, argument)
        if problem:
            raise fail(
                source, line, "argument", f"{problem} for {constraint}", f"give {ARGUMENTS[constraint]}"
            )
        absent = _states(constraint, argument, text)
        if absent:
            raise fail(
                source,
                line,
                "text",
                f"does not state the {constraint} constraint",
                f"say {absent} in the text",
            )
    return finish(df)
