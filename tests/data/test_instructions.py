"""The package's constrained instructions, and broken copies that fail with their file, row and column."""

from __future__ import annotations

from pathlib import Path

from conftest import raises

from valuescope.data.instructions import (
    CONSTRAINTS,
    LANGUAGES,
    argument_problem,
    json_keys,
    load_instructions,
)

HEADER = "instruction_id,constraint,argument,text\n"


def test_the_package_file_has_twelve_or_more_valid_instructions_per_kind() -> None:
    frame = load_instructions()
    assert len(frame) >= 72
    assert list(frame.columns) == ["instruction_id", "constraint", "argument", "text"]
    counts = frame["constraint"].value_counts()
    assert set(counts.index) == set(CONSTRAINTS) and counts.min() >= 12
    for row in frame.itertuples(index=False):
        assert argument_problem(row.constraint, row.argument) is None, row
    languages = set(frame.loc[frame["constraint"] == "language", "argument"])
    assert languages == set(LANGUAGES)
    assert frame.loc[frame["constraint"] == "json", "argument"].eq("").any()  # some need no keys
    assert frame["instruction_id"].is_unique and frame["text"].is_unique


def test_a_user_file_is_read_with_extra_columns_kept(tmp_path: Path) -> None:
    path = tmp_path / "ins.csv"
    path.write_text(
        "instruction_id,text,constraint,argument,note\n"
        "a,\"Reply only with a JSON object with keys 'x' and 'y'.\",json,\"x, y\",mine\n"
    )
    frame = load_instructions(path)
    assert list(frame.columns) == ["instruction_id", "constraint", "argument", "text", "note"]
    assert json_keys(frame.loc[0, "argument"]) == ("x", "y")


def test_bad_rows_name_the_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "ins.csv"

    def case(rows: str, line: int, column: str, *words: str) -> None:
        path.write_text(HEADER + rows)
        raises(load_instructions, path, line, column, *words)

    ok = "a,max_words,5,Describe tea in at most 5 words.\n"
    case(ok + "b,rhyme,x,Rhyme with 'x'.\n", 3, "constraint", "'rhyme' is unknown", "max_words")
    case(ok + "b,max_words,five,Describe tea in at most five words.\n", 3, "argument", "whole number")
    case("b,max_words,,Describe tea briefly.\n", 2, "argument", "empty")
    case("b,language,it,Answer in Italian: why?\n", 2, "argument", "fr, es, de")
    case("b,include,two words,Use 'two words'.\n", 2, "argument", "not one word")
    case("b,json,first name,Reply only with JSON.\n", 2, "argument", "not a key name")
    case("b,avoid,hot,Describe the sun without using the word warm.\n", 2, "text", "say 'hot'")
    case("b,max_words,5,Describe tea in at most 6 words.\n", 2, "text", "say 5 words")
    case("b,json,name,Reply only with a JSON object.\n", 2, "text", "say 'name'")
    case(
        ok + "a,avoid,hot,Describe the sun without using the word 'hot'.\n",
        3,
        "instruction_id",
        "repeats row 2",
    )
    case(ok + "b,max_words,5,Describe tea in at most 5 words.\n", 3, "text", "repeats row 2")
    case("b,,5,Describe tea in at most 5 words.\n", 2, "constraint", "empty")
    path.write_text("instruction_id,constraint,text\na,json,Reply with JSON.\n")
    raises(load_instructions, path, 1, "argument", "missing columns argument")
