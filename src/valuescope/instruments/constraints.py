"""Deterministic checks that a response follows an instruction's constraint
(:mod:`valuescope.data.instructions`): no model, no external package.

An empty or whitespace-only response follows no constraint, ``avoid`` and ``max_words`` included: saying
nothing is not following an instruction. Words are :data:`~valuescope.data.instructions.WORD` matches
(``don't`` is one word, ``well-known`` one); keywords match case-insensitively as whole words, plural
``s``/``es`` allowed (``book`` matches ``Books`` and ``book-lover``, not ``bookshelf``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from valuescope.data.instructions import ARGUMENTS, CONSTRAINTS, WORD, argument_problem, json_keys


def _list(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _list(
        "the a an and or but of to in on at for with from by is are was were be been it its this that "
        "these those i you he she we they my your our their not do does did have has had will would can "
        "could should there what which who how why when if as so than then very"
    ),
    "fr": _list(
        "le la les un une des du de et ou mais est sont était je tu il elle nous vous ils elles mon ma "
        "mes ton ta tes son sa ses notre votre leur leurs ce cette ces qui que quoi dans sur avec pour "
        "par pas ne plus au aux très aussi comme être avoir fait c l j d qu"
    ),
    "es": _list(
        "el la los las un una unos unas de del y o pero es son era está están yo tú él ella nosotros "
        "vosotros ellos ellas mi mis tu tus su sus nuestro este esta estos estas ese esa que qué en con "
        "para por no más muy también como al lo le les se me hay ser"
    ),
    "de": _list(
        "der die das den dem des ein eine einen einem einer und oder aber ist sind war waren ich du er "
        "sie es wir ihr mein meine dein deine sein seine unser euer nicht kein keine mit für auf von zu "
        "im am an in auch sehr wie dass was wer wenn man sich noch nur ja bei"
    ),
}
"""Small lists of function words per language (en, fr, es, de); a word may sit in several lists."""
MIN_STOPWORDS = 2
"""The fewest stopwords of the winning language for :func:`detect_language` to decide."""
MIN_SHARE = 0.1
"""The smallest share of the response's words that the winning language's stopwords must make up."""

_LEAD = re.compile(r"""^[\s"'“”‘’«»`*_#>]*""")
_FENCE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.DOTALL)


def _empty(response: str) -> bool:
    return not response.strip()


def words(text: str) -> list[str]:
    """The words of ``text`` (:data:`~valuescope.data.instructions.WORD` matches)."""
    return WORD.findall(text)


def max_words(response: str, n: int) -> bool:
    """At most ``n`` words (and at least one)."""
    return 0 < len(words(response)) <= n


def starts_with(response: str, word: str) -> bool:
    """The response's first word is ``word`` (case-insensitive), after leading whitespace, quotes and
    markdown (``*``, ``_``, ``#``, ``>``); punctuation after it is fine (``**Yes**,`` starts with Yes)."""
    first = WORD.match(_LEAD.sub("", response, count=1))
    return first is not None and first.group().casefold() == word.casefold()


def _keyword(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?:e?s)?(?!\w)", re.IGNORECASE)


def includes(response: str, keyword: str) -> bool:
    """``keyword`` (or its plural) appears as a whole word, any case."""
    return _keyword(keyword).search(response) is not None


def avoids(response: str, keyword: str) -> bool:
    """The response says something and never uses ``keyword`` (nor its plural) as a whole word."""
    return not _empty(response) and not includes(response, keyword)


def stopword_counts(text: str) -> dict[str, int]:
    """How many of the words of ``text`` (split at apostrophes too: ``l'eau`` is ``l``, ``eau``) are
    stopwords of each language in :data:`STOPWORDS`."""
    tokens = re.findall(r"\w+", text.casefold())
    return {lang: sum(t in stops for t in tokens) for lang, stops in STOPWORDS.items()}


def detect_language(text: str) -> str | None:
    """``en``, ``fr``, ``es`` or ``de``: the language whose stopwords are the most numerous among the
    words of ``text``, when it has strictly more than any other, at least :data:`MIN_STOPWORDS` of them,
    and they make up at least :data:`MIN_SHARE` of the words; None otherwise (too short, tied, no prose)."""
    counts = stopword_counts(text)
    n = len(re.findall(r"\w+", text))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    (best, hits), runner_up = ranked[0], ranked[1][1]
    if hits < MIN_STOPWORDS or hits == runner_up or hits < MIN_SHARE * n:
        return None
    return best


def in_language(response: str, language: str) -> bool:
    """The response is written in ``language`` (a code of :data:`STOPWORDS`), by :func:`detect_language`."""
    if language not in STOPWORDS:
        raise ValueError(f"language={language!r}: detectable are {', '.join(STOPWORDS)}")
    return detect_language(response) == language


def first_json(response: str) -> Any:
    """The first JSON object or array in ``response`` (inside a ```` ``` ```` fence first, then from
    each ``{`` or ``[`` in turn); None if there is none."""
    decoder = json.JSONDecoder()
    for text in [*_FENCE.findall(response), response]:
        for match in re.finditer(r"[{\[]", text):
            try:
                value, _ = decoder.raw_decode(text, match.start())
            except json.JSONDecodeError:
                continue
            return value
    return None


def has_json(response: str, keys: tuple[str, ...] = ()) -> bool:
    """The response holds a JSON object or array (:func:`first_json`); with ``keys``, an object that has
    every one of them."""
    value = first_json(response)
    if value is None:
        return False
    return not keys or (isinstance(value, dict) and all(k in value for k in keys))


def follows(constraint: str, argument: str, response: str) -> bool:
    """Whether ``response`` follows the instruction's ``constraint`` with its ``argument`` (as in
    ``instructions.csv``); a bad constraint or argument raises ValueError."""
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint={constraint!r}: use one of {', '.join(CONSTRAINTS)}")
    problem = argument_problem(constraint, argument)
    if problem:
        raise ValueError(f"{constraint} argument {argument!r}: {problem}; give {ARGUMENTS[constraint]}")
    if _empty(response):
        return False
    if constraint == "max_words":
        return max_words(response, int(argument))
    if constraint == "starts_with":
        return starts_with(response, argument)
    if constraint == "language":
        return in_language(response, argument)
    if constraint == "include":
        return includes(response, argument)
    if constraint == "avoid":
        return avoids(response, argument)
    return has_json(response, json_keys(argument))
