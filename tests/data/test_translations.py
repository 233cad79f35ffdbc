"""The package's zh/es/fr/ko translations of the mechanisms stimuli, and user translation files."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from valuescope.data.csvfile import StimulusError
from valuescope.data.queries import load_queries
from valuescope.data.translations import (
    LANGUAGE_NAMES,
    LANGUAGES,
    TRANSLATION_COLUMNS,
    load_translations,
)

OUTPUT = ["item_id", "kind", "language", "text", "source_text", "value", "reverse"]
HEADER = ",".join(TRANSLATION_COLUMNS) + "\n"


@pytest.fixture(scope="module")
def package() -> pd.DataFrame:
    return load_translations()


def english_statements() -> pd.DataFrame:
    path = resources.files("valuescope.data").joinpath("mechanisms_statements.csv")
    with resources.as_file(path) as p:
        return pd.read_csv(p, dtype=str)


def test_the_package_file_has_the_documented_columns() -> None:
    text = resources.files("valuescope.data").joinpath("mechanisms_translations.csv").read_text("utf-8")
    lines = text.splitlines()
    comments = [line for line in lines if line.startswith("# ")]
    assert lines[: len(comments)] == comments
    assert lines[len(comments)] == ",".join(TRANSLATION_COLUMNS)
    assert "unofficial" in " ".join(comments).lower()
    assert "not the official translated pvq" in " ".join(comments).lower()


def test_every_item_has_one_row_per_language(package: pd.DataFrame) -> None:
    assert list(package.columns) == OUTPUT
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    statements = english_statements()
    queries = load_queries().head(30)
    expected = {(i, "statement", lang) for i in statements["statement_id"] for lang in LANGUAGES} | {
        (i, "query", lang) for i in queries["query_id"] for lang in LANGUAGES
    }
    keys = list(zip(package["item_id"], package["kind"], package["language"], strict=True))
    assert len(keys) == len(set(keys)) == 90 * 5
    assert set(keys) == expected


def test_statements_keep_their_english_value_and_keying(package: pd.DataFrame) -> None:
    statements = english_statements().set_index("statement_id")
    rows = package[package["kind"] == "statement"]
    for item, value, reverse in zip(rows["item_id"], rows["value"], rows["reverse"], strict=True):
        assert value == statements.at[item, "value"]
        assert reverse == (statements.at[item, "reverse"] == "1")
    assert rows["reverse"].sum() == 20 * 5
    queries = package[package["kind"] == "query"]
    assert (queries["value"] == "").all() and not queries["reverse"].any()


def test_english_rows_are_the_sources_and_no_translation_copies_them(package: pd.DataFrame) -> None:
    english = package[package["language"] == "en"]
    assert (english["text"] == english["source_text"]).all()
    translated = package[package["language"] != "en"]
    assert (translated["text"] != translated["source_text"]).all()
    assert translated["text"].str.len().gt(0).all()


def script_share(text: str, pattern: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(bool(re.match(pattern, c)) for c in letters) / len(letters)


def test_each_language_is_written_in_its_script(package: pd.DataFrame) -> None:
    for language, pattern, least in (
        ("zh", r"[\u4e00-\u9fff]", 0.95),
        ("ko", r"[\uac00-\ud7a3]", 0.95),
        ("es", r"[A-Za-z\u00c0-\u024f]", 0.95),
        ("fr", r"[A-Za-z\u00c0-\u024f]", 0.95),
    ):
        for text in package.loc[package["language"] == language, "text"]:
            assert script_share(text, pattern) >= least, (language, text)


def write(tmp_path: Path, body: str, comments: str = "# my translations\n# second comment\n") -> Path:
    path = tmp_path / "translations.csv"
    path.write_text(comments + HEADER + body, encoding="utf-8")
    return path


def test_a_user_file_with_some_items_and_languages_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        's-power-1,statement,es,"Me gustaría un cargo que, por fin, me hiciera respetar."\n'
        "q001,query,fr,Une promotion m'éloignerait de mes parents. À quoi penser ?\n",
        comments="",
    )
    df = load_translations(path)
    assert list(df.columns) == OUTPUT
    assert list(zip(df["item_id"], df["language"], strict=True)) == [
        ("s-power-1", "en"),
        ("s-power-1", "es"),
        ("q001", "en"),
        ("q001", "fr"),
    ]
    assert df.loc[1, "text"] == "Me gustaría un cargo que, por fin, me hiciera respetar."
    assert df.loc[1, "value"] == "power" and not df.loc[1, "reverse"]


def test_the_english_sources_can_be_passed_in(tmp_path: Path) -> None:
    statements = pd.DataFrame(
        {"statement_id": ["x1"], "value": ["Self-Direction"], "reverse": [True], "text": ["I decide."]}
    )
    queries = pd.DataFrame({"query_id": ["y1"], "topic": ["pets"], "query": ["Cat or dog?"]})
    path = write(tmp_path, "x1,statement,fr,Je décide.\ny1,query,ko,고양이와 개 중 뭐가 좋을까요?\n")
    df = load_translations(path, statements=statements, queries=queries)
    assert list(df["text"]) == ["I decide.", "Je décide.", "Cat or dog?", "고양이와 개 중 뭐가 좋을까요?"]
    assert list(df["value"]) == ["self_direction", "self_direction", "", ""]
    assert list(df["reverse"]) == [True, True, False, False]


OK = "s-power-1,statement,fr,Je voudrais un titre impressionnant.\n"


@pytest.mark.parametrize(
    ("body", "line", "column", "problem"),
    [
        ("s-power-1,question,fr,Texte.\n", 4, "kind", "'question' is not one of statement, query"),
        (OK + "s-power-1,statement,de,Text.\n", 5, "language", "'de' is not a known language; use one of zh"),
        (OK + "s-power-1,statement,en,Text.\n", 5, "language", "English comes from the source"),
        ("q999,query,fr,Texte ?\n", 4, "item_id", "'q999' is not among the English queries"),
        ("q001,statement,fr,Texte.\n", 4, "item_id", "'q001' is not among the English statements"),
        (OK + "\n" + OK.replace("Je", "J'"), 6, "language", "s-power-1 fr repeats row 4"),
        (OK + "s-power-2,statement,fr,\n", 5, "text", "empty"),
        (OK + "s-power-2,statement,fr,Plus, toujours plus.\n", 5, "text", "quote cells that contain commas"),
    ],
)
def test_a_bad_row_is_named_with_its_file_line_and_column(
    tmp_path: Path, body: str, line: int, column: str, problem: str
) -> None:
    path = write(tmp_path, body)
    pattern = rf"{re.escape(str(path))}: row {line}, column {column!r}: .*{re.escape(problem)}"
    with pytest.raises(StimulusError, match=pattern):
        load_translations(path)


def test_a_missing_column_is_named_on_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("# note\nitem_id,kind,text\nq001,query,Hola\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"row 2 \(header\), column 'language': missing columns language"):
        load_translations(path)
