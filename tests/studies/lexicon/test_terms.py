"""Value terms from generated text: lists and free text split, spellings unified, non-terms reported."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from valuescope.studies.lexicon import stimuli as lx
from valuescope.studies.lexicon.term_filter import (
    FILTER_RULES,
    MAX_WORDS,
    drop_rule,
    is_value_term,
    normalise,
)
from valuescope.studies.lexicon.term_split import split_terms
from valuescope.studies.lexicon.term_vocabulary import SPELLING
from valuescope.studies.lexicon.terms import extract_terms, filter_report, term_matrix


def kept(text: str) -> list[str]:
    """The normalised value terms of one response, in order."""
    return extract_terms([text])["term"].tolist()


# ------------------------------------------------------------------------------------------ normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Values", "value"),
        ("responsibilities", "responsibility"),
        ("Core Values", "core value"),
        ("Stakeholders", "stakeholder"),  # not in lemminflect's dictionary
        ("analyses", "analysis"),
        ("open-minded", "open-minded"),
        ("open minded", "open-minded"),
        ("Open\u2011Minded", "open-minded"),  # non-breaking hyphen
        ("open\u2013minded", "open-minded"),  # en dash
        ("open - minded", "open-minded"),
        ("Open-Mindedness", "open-mindedness"),
        ("self awareness", "self-awareness"),
        ("well being", "well-being"),
        ("detail oriented", "detail-oriented"),
        ("socially conscious", "socially conscious"),  # an -ly adverb takes no hyphen
        ("user privacy", "user privacy"),
        ("intellectual humility", "intellectual humility"),
        ("  Intellectual   Humility. ", "intellectual humility"),
        ('"Honesty"', "honesty"),
        ("\u201cKindness\u201d", "kindness"),
        ("behaviour", "behavior"),
        ("Honourable", "honorable"),
        ("colours", "color"),
        ("prioritisation", "prioritization"),
        ("user-centred", "user-centered"),
        ("non judgemental", "non-judgmental"),
        ("scepticism", "skepticism"),
        ("honnêteté", "honnêteté"),
        ("naïve", "naïve"),
    ],
)
def test_normalise_unifies_spellings(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
    assert normalise(expected) == expected  # idempotent


def test_normalise_is_idempotent_on_every_word_and_candidate_of_the_package_stimuli() -> None:
    texts = [
        *lx.load_elicitation()["prompt"],
        *lx.load_stems()["stem"],
        *lx.load_anchors()["description"],
        *lx.load_validation()["completion"],
    ]
    seen = {w for t in texts for w in re.findall(r"[A-Za-z'-]+", t)} | {
        c for t in texts for c in split_terms(t)
    }
    assert len(seen) > 500
    for term in seen:
        once = normalise(term)
        assert once is None or normalise(once) == once, term


def test_possessives_are_dropped() -> None:
    assert normalise("people's trust") == "people trust"
    assert normalise("users' privacy") == "users privacy"  # only the head noun is made singular


def test_normalise_keeps_adjectives_and_derived_nouns_distinct() -> None:
    forms = ["honest", "honesty", "kind", "kindness", "responsible", "responsibility", "caring", "care"]
    assert [normalise(f) for f in forms] == forms
    assert normalise("open-minded") != normalise("open-mindedness")


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "empty"),
        ("  **  ", "empty"),
        ("2024", "no_letters"),
        ("24/7", "no_letters"),
        ("诚实", "non_latin_script"),
        ("честность", "non_latin_script"),
        ("AI 伦理", "non_latin_script"),
    ],
)
def test_normalise_rejects_empty_digit_and_non_latin_terms(raw: str, rule: str) -> None:
    assert normalise(raw) is None
    assert drop_rule(raw) == rule
    assert rule in FILTER_RULES


def test_spelling_map_goes_from_british_to_american_only() -> None:
    assert SPELLING["organisation"] == "organization"
    assert SPELLING["judgement"] == "judgment"
    american = set(SPELLING.values())
    assert not american & set(SPELLING)  # no chains, so one pass is enough
    assert normalise("realistic") == "realistic"  # a British -is- stem is not respelled inside other words


# ------------------------------------------------------------------------------------------ filter


@pytest.mark.parametrize(
    ("term", "rule"),
    [
        ("I", "pronoun"),
        ("my", "pronoun"),
        ("yourself", "pronoun"),
        ("the", "stopword"),
        ("very", "stopword"),
        ("Sure", "boilerplate"),
        ("here are", "boilerplate"),
        ("As an AI", "boilerplate"),
        ("language model", "boilerplate"),
        ("thing", "filler"),
        ("stuff", "filler"),
        ("a lot", "filler"),
        ("important", "filler"),
        ("values", "filler"),
        ("core values", "filler"),
        ("ethical principles", "filler"),
        ("user", "referent"),
        ("people", "referent"),
        ("ensure", "verb_only"),
        ("strive", "verb_only"),
        ("always strive", "verb_only"),
        ("c++", "not_a_word"),
        ("web3", "not_a_word"),
        ("x", "not_a_word"),
        ("respect for the privacy of users", "too_long"),
    ],
)
def test_filter_drops_non_terms_by_a_named_rule(term: str, rule: str) -> None:
    assert drop_rule(term) == rule
    assert not is_value_term(term)


@pytest.mark.parametrize(
    "term",
    [
        "honesty",
        "helpful",
        "caring",  # lemminflect knows only the verb; -ing forms pass
        "committed",
        "focused",
        "critical thinking",
        "user privacy",
        "open-mindedness",
        "respect for others",
        "freedom of speech",
        "humility",
        "sustainability",  # not in lemminflect's dictionary
        "honnêteté",
    ],
)
def test_filter_keeps_quality_and_principle_terms(term: str) -> None:
    assert drop_rule(term) is None and is_value_term(term)


def test_the_filter_has_no_taxonomy_allow_list() -> None:
    """Words no list mentions pass, whether or not ValueLex has them: the filter only removes non-terms."""
    assert is_value_term("frugality") and is_value_term("whimsy") and is_value_term("zeal")
    assert "allow-list" in (is_value_term.__doc__ or "")


# ------------------------------------------------------------------------------------------ split


def test_numbered_bulleted_and_markdown_lists_give_their_items() -> None:
    text = (
        "1. **Honesty**: being truthful in all interactions\n2) __Helpfulness__ - useful answers\n3. Harmless"
    )
    assert split_terms(text) == ["Honesty", "Helpfulness", "Harmless"]
    assert split_terms("- Empathy\n* Curiosity\n• Patience\n## Fairness") == [
        "Empathy",
        "Curiosity",
        "Patience",
        "Fairness",
    ]
    assert split_terms("1. Honesty 2. Integrity 3. Curiosity") == ["Honesty", "Integrity", "Curiosity"]
    assert split_terms("- Honesty — telling the truth, even when it is hard") == ["Honesty"]
    assert split_terms("- [Transparency](https://example.org) (being open about limits)") == ["Transparency"]


def test_comma_semicolon_and_conjunction_lists_give_their_items() -> None:
    assert split_terms("honesty, kindness; fairness and respect or care & patience.") == [
        "honesty",
        "kindness",
        "fairness",
        "respect",
        "care",
        "patience",
    ]
    assert kept("Honesty, helpfulness, and harmlessness.") == ["honesty", "helpfulness", "harmlessness"]


def test_an_introduced_list_gives_its_items_and_reports_the_introduction() -> None:
    text = "The five values that matter most to me are: honesty, helpfulness, and care."
    assert kept(text) == ["honesty", "helpfulness", "care"]
    assert kept("Core values: integrity, curiosity") == ["integrity", "curiosity"]
    report = filter_report([text])
    assert report.set_index("candidate")["rule"].to_dict() == {"five value": "filler"}


def test_free_text_gives_short_noun_and_adjective_phrases() -> None:
    text = "I believe that honesty and kindness come first. I always strive to protect user privacy."
    terms = kept(text)
    assert terms == ["honesty", "kindness", "user privacy"]
    assert kept("I value honesty above all else.") == ["honesty"]  # "value" is a verb here
    for text in ["Above all I try to be deeply honest, patient and genuinely curious about people."]:
        assert all(len(t.split()) <= 3 for t in split_terms(text))
    assert kept("Above all I try to be deeply honest, patient and genuinely curious about people.") == [
        "honest",
        "patient",
        "curious",
    ]


def test_no_candidate_is_longer_than_four_words() -> None:
    text = "Respect for the dignity and autonomy of every single person, and care for the world we share."
    assert all(len(t.split()) <= MAX_WORDS for t in split_terms(text))


def test_boilerplate_gives_no_terms_and_is_reported() -> None:
    assert split_terms("") == [] and kept("") == []
    text = "Sure! I'm happy to help."
    assert kept(text) == []
    report = filter_report([text])
    assert set(report["rule"]) == {"boilerplate"}
    assert set(report["candidate"]) == {"sure", "happy to help"}
    assert kept("Honesty, care. I hope this helps!") == ["honesty", "care"]
    text = "As an AI language model, I don't have personal values, but here are some: accuracy, fairness."
    assert kept(text) == ["accuracy", "fairness"]
    rules = filter_report([text]).set_index("candidate")["rule"].to_dict()
    assert rules["as an ai"] == rules["language model"] == rules["here are"] == "boilerplate"
    assert rules["personal value"] == "filler"


def test_non_latin_responses_give_no_terms_and_accented_latin_is_kept() -> None:
    assert kept("诚实，善良，乐于助人") == []
    report = filter_report(["诚实，善良，乐于助人"])
    assert (report["rule"] == "non_latin_script").all() and len(report) == 3
    assert kept("honnêteté, naïve") == ["honnêteté", "naïve"]


# ------------------------------------------------------------------------------------------ extract


def test_extract_terms_gives_one_row_per_response_and_term_in_order() -> None:
    texts = [
        "Honesty, honesty and HONESTY, then open minded, Open-Minded",
        "Sure!",
        "- Values\n- Responsibilities\n- Behaviour",
    ]
    df = extract_terms(texts)
    assert list(df.columns) == ["response", "rank", "term", "raw"]
    assert df[["response", "rank", "term"]].values.tolist() == [
        [0, 0, "honesty"],
        [0, 1, "open-minded"],
        [2, 0, "responsibility"],
        [2, 1, "behavior"],
    ]
    assert df["raw"].tolist() == ["Honesty", "open-minded", "Responsibilities", "Behaviour"]


def test_spacing_variants_seen_in_the_corpus_merge_onto_the_hyphenated_one() -> None:
    df = extract_terms(
        ["wellbeing, fairness", "well-being", "fact checking", "fact-checking, kind-heartedness"]
    )
    assert df["term"].tolist() == [
        "well-being",
        "fairness",
        "well-being",
        "fact-checking",
        "fact-checking",
        "kind-heartedness",
    ]


def test_filter_report_counts_occurrences_and_responses() -> None:
    report = filter_report(["Sure! Honesty, stuff.", "sure, things, 42", "honesty"])
    assert list(report.columns) == ["candidate", "rule", "count", "responses"]
    rows = {r.candidate: (r.rule, r.count, r.responses) for r in report.itertuples()}
    assert rows == {
        "sure": ("boilerplate", 2, 2),
        "stuff": ("filler", 1, 1),
        "thing": ("filler", 1, 1),
        "42": ("no_letters", 1, 1),
    }
    assert report["count"].is_monotonic_decreasing
    assert set(report["rule"]) <= set(FILTER_RULES)


# ------------------------------------------------------------------------------------------ matrix


def test_term_matrix_keeps_terms_at_or_above_the_share() -> None:
    terms = pd.DataFrame(
        {
            "response": [0, 0, 1, 1, 2, 3, 3],
            "term": ["honesty", "care", "honesty", "care", "honesty", "zeal", "honesty"],
        }
    )
    matrix, names = term_matrix(terms, 5, min_share=0.4)  # 2 of 5 responses is exactly 0.4
    assert names == ["honesty", "care"]  # most responses first
    assert matrix.dtype == np.uint8
    assert matrix.tolist() == [[1, 1], [1, 1], [1, 0], [1, 0], [0, 0]]
    assert term_matrix(terms, 5, min_share=0.41)[1] == ["honesty"]
    assert term_matrix(terms, 5, min_share=0.2)[1] == ["honesty", "care", "zeal"]
    assert term_matrix(terms, 5)[1] == ["honesty", "care", "zeal"]  # default 5%: named once is enough here


def test_term_matrix_counts_a_response_once_and_handles_no_terms() -> None:
    terms = pd.DataFrame({"response": [0, 0, 0], "term": ["care", "care", "care"]})
    matrix, names = term_matrix(terms, 10, min_share=0.2)
    assert names == [] and matrix.shape == (10, 0)
    empty = extract_terms(["Sure!", ""])
    matrix, names = term_matrix(empty, 2)
    assert names == [] and matrix.shape == (2, 0)


def test_term_matrix_matches_extract_terms() -> None:
    texts = ["honesty, care", "Honesty", "curiosity, care", "sure"]
    matrix, names = term_matrix(extract_terms(texts), len(texts), min_share=0.5)
    assert names == ["care", "honesty"]  # ties in alphabetical order
    assert matrix.tolist() == [[1, 1], [0, 1], [1, 0], [0, 0]]


def test_term_matrix_rejects_bad_arguments() -> None:
    terms = pd.DataFrame({"response": [0, 3], "term": ["care", "zeal"]})
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        term_matrix(terms, 3)
    with pytest.raises(ValueError, match="min_share"):
        term_matrix(terms, 4, min_share=0)
    with pytest.raises(ValueError, match="min_share"):
        term_matrix(terms, 4, min_share=1.5)
    with pytest.raises(ValueError, match="lacks columns"):
        term_matrix(terms.rename(columns={"term": "word"}), 4)


# ------------------------------------------------------------------------------------ markup, echo


def test_html_tags_are_markup_not_terms() -> None:
    assert kept("1. <b>Selflessness.</b> Not only...")[:1] == ["selflessness"]
    assert "strong" not in kept("<strong>Patience</strong>, <em>care</em>")
    assert kept("<strong>Patience</strong>, <em>care</em>") == ["patience", "care"]


def test_terms_that_only_repeat_the_prompt_are_dropped_as_echo() -> None:
    prompt = "Which words would you put in a motto? What guides you when a request is difficult?"
    texts = ["honesty, difficult requests, kindness, mottos", "my motto"]
    kept = extract_terms(texts, [prompt, prompt])
    assert kept["term"].tolist() == ["honesty", "kindness"]
    report = filter_report(texts, [prompt, prompt]).set_index("candidate")
    assert report.loc["difficult request", "rule"] == "echo"  # plural in the answer, singular in the prompt
    assert report.loc["motto", "responses"] == 2
    # without prompts there is no echo rule
    assert "motto" in extract_terms(texts)["term"].tolist()


def test_echo_needs_one_prompt_per_response() -> None:
    with pytest.raises(ValueError, match="one prompt per response"):
        extract_terms(["honesty", "care"], ["only one prompt"])
