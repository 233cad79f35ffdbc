"""One form per value term, and the rules that drop what cannot be one.

:func:`normalise` maps spellings of one term onto one form; :func:`is_value_term` keeps the terms that can
name a quality or principle, by the rules of :data:`FILTER_RULES` (:func:`drop_rule` names the rule that
drops a term).

Scripts: terms with letters outside the Latin script (诚实, честность) are dropped; Latin letters with
accents are kept as written (honnêteté, naïve), since an accent alone does not tell a French word from
an English loan word. Spelling: British forms become American through ``term_vocabulary.SPELLING``.
Parts of speech come from lemminflect's dictionary, not a tagger."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from lemminflect import getAllLemmas, getLemma

from valuescope.studies.lexicon.term_vocabulary import (
    BOILERPLATE,
    FILLER,
    GENERIC,
    HYPHEN_FIRST,
    HYPHEN_SECOND,
    META,
    PRONOUNS,
    REFERENTS,
    STOPWORDS,
    american,
)

__all__ = ["FILTER_RULES", "MAX_WORDS", "drop_rule", "is_value_term", "normalise"]

MAX_WORDS = 4
"""Longest term kept, in words (a hyphenated compound is one word)."""


FILTER_RULES: dict[str, str] = {
    "empty": "nothing is left once punctuation, quotes and markup are stripped",
    "no_letters": "digits or symbols only ('5', '2024', '24/7')",
    "non_latin_script": "letters outside the Latin script ('诚实', 'честность'); accented Latin is kept",
    "too_long": f"more than {MAX_WORDS} words: a sentence, not a term",
    "boilerplate": (
        "assistant boilerplate ('sure', 'here are', 'as an ai', 'language model', 'glad to help', 'sorry')"
    ),
    "pronoun": "only pronouns and function words ('i', 'my', 'we', 'yourself')",
    "stopword": "only function words ('the', 'of', 'very', 'also')",
    "not_a_word": "symbols or digits inside ('c++', 'web3'), or a single letter",
    "filler": (
        "only filler ('thing', 'stuff', 'lot'; 'ability', 'willingness', whose complement names the value), "
        "generic importance words ('important', 'key', 'five') and "
        "words naming the category rather than a member ('value', 'core value', 'ethical principle')"
    ),
    "referent": "only words naming an agent rather than a quality ('user', 'people', 'assistant', 'ai')",
    "verb_only": (
        "only verbs and adverbs in base or third-person form ('ensure', 'strive', 'always'); -ing and -ed "
        "forms pass, as they often name qualities ('caring', 'committed', 'learning')"
    ),
    "echo": (
        "only words of the prompt that elicited it ('motto', 'difficult request' in answer to a prompt "
        "about mottos or difficult requests); applied when the prompts are given"
    ),
}
"""Why :func:`drop_rule` drops a candidate, in the order the rules are tried; a term no rule drops is kept."""


_HYPHENS = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2043\u2212\ufe63\uff0d"} | {"\u00ad": None})
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'"})
EDGE = " \t-.,;:!?\"'`*_#()[]{}<>«»„“”‹›|~^"
"""Characters stripped from both ends of a candidate term."""


def unify_characters(text: str) -> str:
    """NFKC, one hyphen character, straight apostrophes; an unspaced en dash between letters is a hyphen."""
    text = unicodedata.normalize("NFKC", text).translate(_HYPHENS).translate(_QUOTES)
    return re.sub(r"(?<=\w)\u2013(?=\w)", "-", text)


def _is_compound(first: str, second: str) -> bool:
    """Whether two words form one compound: a bound first part ("self awareness", "well informed") or a
    second part that makes compound adjectives ("open minded", "detail oriented", "like minded")."""
    a, b = first.lower(), second.lower()
    if not (a.isalpha() and b.replace("-", "").isalpha()) or a.endswith("ly"):
        return False
    if a in HYPHEN_FIRST:
        return a != "well" or b == "being" or b.endswith(("ed", "ing", "en", "wn"))
    return (a not in STOPWORDS or a == "like") and b.split("-")[0] in HYPHEN_SECOND


def join_compounds(words: list[str]) -> list[str]:
    """``words`` with each pair forming one compound joined by a hyphen ("open minded" -> "open-minded")."""
    out: list[str] = []
    for word in words:
        if out and _is_compound(out[-1], word):
            out[-1] = f"{out[-1]}-{word}"
        else:
            out.append(word)
    return out


@lru_cache(maxsize=65536)
def parts_of_speech(word: str) -> frozenset[str]:
    """The parts of speech lemminflect knows for a word (empty if it does not know the word)."""
    return frozenset(getAllLemmas(word))


def singular(word: str) -> str:
    """The noun lemma of a word that is a noun and not an adjective; other words unchanged."""
    lemmas = getAllLemmas(word)
    if "ADJ" in lemmas:
        return word
    if "NOUN" in lemmas:
        return str(lemmas["NOUN"][0])
    if (
        not lemmas
        and len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is", "ics", "ous"))
    ):
        return str(getLemma(word, "NOUN", lemmatize_oov=True)[0])
    return word


def _latin(letter: str) -> bool:
    return unicodedata.name(letter, "").startswith("LATIN")


@lru_cache(maxsize=65536)
def _normalised(term: str) -> tuple[str | None, str]:
    """(normal form, "") or (None, the rule of :data:`FILTER_RULES` that rejects the term)."""
    s = unify_characters(term).lower()
    s = re.sub(r"\s*-+\s*", "-", re.sub(r"\s+", " ", s)).strip(EDGE)
    if not s:
        return None, "empty"
    letters = [c for c in s if c.isalpha()]
    if not letters:
        return None, "no_letters"
    if not all(_latin(c) for c in letters):
        return None, "non_latin_script"
    s = re.sub(r"(?<=\w)'s?(?=[\s-]|$)", "", s)  # possessives: "people's" -> "people"
    words = ["-".join(american(part) for part in word.split("-")) for word in s.split(" ")]
    words = join_compounds(words)
    head = words[-1].split("-")
    head[-1] = singular(head[-1])
    words[-1] = "-".join(head)
    return " ".join(words), ""


def normalise(term: str) -> str | None:
    """One form for the spellings of a term, or None if it is empty, has no letters, or is not Latin script.

    Lowercase; hyphens, dashes and spaces unified ("Open‑Minded", "open minded" -> "open-minded": two words
    forming a compound adjective take a hyphen); British spellings made American (:data:`SPELLING`); the
    head noun (the last word) made singular ("responsibilities" -> "responsibility", "core values" ->
    "core value"), but adjectives and derived nouns stay distinct ("honest", "honesty", "open-mindedness").
    Multiword terms stay phrases ("user privacy"). Applying it twice changes nothing.
    """
    return _normalised(term)[0]


def word_parts(term: str) -> list[str]:
    """The words of a term, hyphenated compounds split into their parts."""
    return [p for p in re.split(r"[\s-]+", term) if p]


def is_verbal(word: str) -> bool:
    """Known only as a verb, auxiliary or adverb, and not an -ing or -ed form."""
    readings = parts_of_speech(word)
    return bool(readings) and readings <= {"VERB", "AUX", "ADV"} and not word.endswith(("ing", "ed"))


WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
"""A word: letters, with apostrophes inside ("people's")."""


# a term that is boilerplate, or holds a boilerplate phrase of two or more words ("as an ai assistant")
_BOILERPLATE_TERM = re.compile(
    "|".join(
        rf"^{re.escape(n)}$" if " " not in n else rf"(?<![\w']){re.escape(n)}(?![\w'])"
        for n in (_normalised(p)[0] or p for p in BOILERPLATE)
    )
)


def normal_form_and_rule(term: str) -> tuple[str | None, str | None]:
    """(normal form or None, the rule that drops it or None if it is kept)."""
    norm, why = _normalised(term)
    if norm is None:
        return None, why
    words = norm.split(" ")
    parts = word_parts(norm)
    if len(words) > MAX_WORDS:
        return norm, "too_long"
    if _BOILERPLATE_TERM.search(norm):
        return norm, "boilerplate"
    if all(p in STOPWORDS for p in parts):
        return norm, "pronoun" if any(p in PRONOUNS for p in parts) else "stopword"
    if not all(WORD.fullmatch(p) for p in parts) or len(norm) == 1:
        return norm, "not_a_word"
    generic = STOPWORDS | FILLER | GENERIC | META
    if all(p in generic for p in parts) or parts[-1] in META:
        return norm, "filler"
    if all(p in generic or p in REFERENTS for p in parts):
        return norm, "referent"
    if all(p in STOPWORDS or is_verbal(p) for p in parts):
        return norm, "verb_only"
    return norm, None


def drop_rule(term: str) -> str | None:
    """The rule of :data:`FILTER_RULES` that drops a (raw or normalised) term, or None if it is kept."""
    return normal_form_and_rule(term)[1]


def is_value_term(term: str) -> bool:
    """Whether a term can name a quality or principle: a noun or adjective phrase no rule drops.

    The rules (:data:`FILTER_RULES`) only remove what cannot be a value term: function words, pronouns,
    filler, assistant boilerplate, agents, bare verbs, non-Latin scripts and sentences. There is
    deliberately no allow-list of value words, and none of the ValueLex taxonomy's own descriptors: a
    filter that kept only known value words would rediscover the taxonomy instead of testing it.
    """
    return drop_rule(term) is None
