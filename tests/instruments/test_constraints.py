"""The constraint checkers on answers whose verdict is known, passing and failing, with their edge cases."""

from __future__ import annotations

import pytest

from valuescope.data.instructions import load_instructions
from valuescope.instruments.constraints import (
    detect_language,
    first_json,
    follows,
    has_json,
    in_language,
    max_words,
    starts_with,
    words,
)


def test_words_are_runs_of_word_characters_with_inner_apostrophes() -> None:
    assert words("Don't panic -- it's 42, well-known!") == ["Don't", "panic", "it's", "42", "well-known"]
    assert max_words("Grey clouds, soft rain, warm tea.", 6)
    assert not max_words("Grey clouds, soft rain, warm tea and toast.", 6)
    assert not max_words("  ", 6)


@pytest.mark.parametrize(
    "response",
    [
        "Yes, it is.",
        "  yes.",
        '"Yes!" I said.',
        "**Yes**, of course.",
        "*Yes* indeed",
        "> Yes",
        "'Yes' - always",
    ],
)
def test_starts_with_ignores_case_quotes_markdown_and_punctuation(response: str) -> None:
    assert starts_with(response, "Yes") and follows("starts_with", "Yes", response)


@pytest.mark.parametrize("response", ["Yesterday I drank water.", "Well, yes.", "No.", "", "**"])
def test_starts_with_needs_the_whole_word_first(response: str) -> None:
    assert not starts_with(response, "Yes")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Je mange du pain et du fromage le matin.", "fr"),
        ("L'automne est ma saison préférée parce que les feuilles changent de couleur.", "fr"),
        ("Me gusta leer un libro en el parque.", "es"),
        ("Para preparar una ensalada, corta la lechuga y los tomates.", "es"),
        ("Ich trinke gern Wasser am Morgen.", "de"),
        ("Es ist gut, viel Wasser zu trinken, weil der Körper es braucht.", "de"),
        ("I like to read a book in the park.", "en"),
        ("The weather is nice today and we will go outside.", "en"),
    ],
)
def test_short_sentences_are_told_apart_by_their_stopwords(text: str, language: str) -> None:
    assert detect_language(text) == language
    assert in_language(text, language)
    assert not any(in_language(text, other) for other in ("en", "fr", "es", "de") if other != language)


def test_too_few_stopwords_decide_no_language() -> None:
    assert detect_language("Bonjour") is None
    assert detect_language("Croissant, baguette, fromage.") is None
    assert detect_language("") is None
    assert not follows("language", "fr", "Bonjour")
    with pytest.raises(ValueError, match="detectable are en, fr, es, de"):
        in_language("Hallo", "it")


def test_include_and_avoid_match_whole_words_and_plurals_in_any_case() -> None:
    assert follows("include", "seagull", "Two Seagulls fought over a chip.")
    assert follows("include", "box", "The boxes were empty.")
    assert not follows("include", "seagull", "A gull flew by.")
    assert not follows("avoid", "book", "Shelves of Books line the walls.")
    assert not follows("avoid", "tree", "A tree-lined path.")
    assert follows("avoid", "book", "Shelves of novels line the walls; a bookshelf creaks.")
    assert follows("avoid", "hot", "The sun is a bright, blazing star.")
    assert not follows("avoid", "hot", "It is very HOT.")


def test_json_is_found_in_prose_and_inside_code_fences() -> None:
    fenced = 'Here you go:\n```json\n{"name": "Ann", "age": 31}\n```\nEnjoy!'
    assert first_json(fenced) == {"name": "Ann", "age": 31}
    assert follows("json", "name,age", fenced)
    assert follows("json", "", 'Sure: ["apple", "pear", "plum"] are fruits.')
    assert follows("json", "", '[see below] {"colour": "red"}')  # a broken candidate is skipped
    assert not follows("json", "name,age", '{"name": "Ann"}')
    assert not follows("json", "name,age", '[{"name": "Ann", "age": 31}]')
    assert not follows("json", "", "{name: Ann, age: 31}")
    assert not has_json("No JSON here.")


def test_an_empty_response_follows_nothing() -> None:
    for constraint, argument in [("max_words", "5"), ("avoid", "hot"), ("json", ""), ("include", "a")]:
        assert not follows(constraint, argument, " \n ")


def test_a_bad_constraint_or_argument_is_named() -> None:
    with pytest.raises(ValueError, match="constraint='rhyme': use one of max_words"):
        follows("rhyme", "", "x")
    with pytest.raises(ValueError, match=r"max_words argument 'ten'.*whole number"):
        follows("max_words", "ten", "x")
    with pytest.raises(ValueError, match="language argument 'it'"):
        follows("language", "it", "x")


def test_every_package_instruction_can_be_checked() -> None:
    for row in load_instructions().itertuples(index=False):
        assert not follows(row.constraint, row.argument, "")
        follows(row.constraint, row.argument, "Yes, here is a short answer.")
