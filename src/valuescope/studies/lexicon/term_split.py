"""Candidate value terms of one response, as written: :func:`split_terms`.

Numbered, bulleted and markdown lists, comma/semicolon/"and" lists, "1. **Honesty**: being truthful" (the
head before a colon or dash), and free text, which gives noun/adjective phrases of at most three words
(split at punctuation, conjunctions and function words; a word right after a subject pronoun, a modal or
"to" that can be a verb is dropped: "I *value* honesty").

Parts of speech come from lemminflect's dictionary, not a tagger, so free text is split by heuristics: a
noun followed by a verb that can also be a noun stays one phrase ("kindness matter" from "honesty and
kindness matter"). Lists, the usual answer to an elicitation prompt, do not depend on this."""

from __future__ import annotations

import re

from valuescope.studies.lexicon.term_filter import (
    EDGE,
    MAX_WORDS,
    is_verbal,
    join_compounds,
    parts_of_speech,
    unify_characters,
)
from valuescope.studies.lexicon.term_vocabulary import BOILERPLATE_RE, MODALS, STOPWORDS, SUBJECTS, word_set

__all__ = ["split_terms"]

_FREE_TEXT_WORDS = 3


_MARKER = re.compile(r"^\s*(?:[-*+•·▪►‣◦]\s+|\(?\d{1,3}[.)](?!\d)\s*|\(?[A-Za-z][.)]\s+|#{1,6}\s*|>\s*)")
_INLINE_NUMBER = re.compile(r"\s+(?=\(?\d{1,2}[.)]\s+\S)")
_HEAD = re.compile(r"^(?P<head>.*?)(?::|\s*\u2014\s*|\s+[\u2013-]\s+)(?P<tail>.*)$")
_SEPARATOR = re.compile(
    r"[.!?。！？]+(?=\s|$)|[,;/|、，；]|(?<!\S)(?:and|or|nor|but|plus|&|as well as|versus|vs\.?)(?!\S)",
    re.IGNORECASE,
)
_PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_INTRO = word_set(
    """are is include includes including be as by for following values principles qualities ideals
    priorities traits virtues list"""
)


_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>")


def _markdown(line: str) -> str:
    line = _TAG.sub(" ", line)  # HTML tags: "<b>Honesty</b>" -> "Honesty"
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)  # [text](url) -> text
    return re.sub(r"\*\*|__|[*`]|(?<!\w)_|_(?!\w)", "", line)


def _strip(token: str) -> str:
    return token.strip(EDGE)


def _chunks(piece: str, cap: int, item: bool) -> list[str]:
    """Candidates of one piece of text: boilerplate phrases, then runs of content words."""
    out = [m.group(0) for m in BOILERPLATE_RE.finditer(piece)]
    rest = BOILERPLATE_RE.sub(" | ", piece)
    tokens = join_compounds([t for t in (_strip(t) for t in rest.split()) if t] if rest.strip() else [])
    runs: list[list[str]] = [[]]
    slot = False  # the previous word makes the next one a verb if it can be one
    for token in tokens:
        low = token.lower()
        if token == "|":
            runs.append([])
            slot = False
        elif low == "of" and runs[-1]:
            runs[-1].append(token)
        elif low in STOPWORDS:
            runs.append([])
            slot = low in SUBJECTS or low in MODALS
        elif slot and parts_of_speech(low) <= {"ADV"} and (parts_of_speech(low) or low.endswith("ly")):
            runs.append([])
        elif (slot and "VERB" in parts_of_speech(low)) or is_verbal(low):
            runs.append([])
            slot = False
        else:
            runs[-1].append(token)
            slot = False
    kept = 0
    for run in runs:
        while run and run[-1].lower() == "of":
            run.pop()
        run = run[-cap:]
        while run and run[0].lower() == "of":
            run.pop(0)
        if run:
            out.append(" ".join(run))
            kept += 1
    if item and not kept and not out:
        remainder = " ".join(t for t in tokens if t != "|")
        if remainder:
            out.append(remainder)
    return out


def _segment(text: str) -> list[str]:
    out: list[str] = []
    for piece in _SEPARATOR.split(text):
        short = _PARENTHESES.sub(" ", piece)
        n = len(short.split())
        if not n:
            continue
        if n <= MAX_WORDS:
            out += _chunks(short, MAX_WORDS, item=True)
        else:
            for part in re.split(r"[()\[\]]", piece):
                out += _chunks(part, _FREE_TEXT_WORDS, item=False)
    return out


def _line_terms(line: str) -> list[str]:
    m = _HEAD.match(line)
    if m is None:
        return _segment(line)
    head, tail = m.group("head").strip(), m.group("tail").strip()
    words = _PARENTHESES.sub(" ", head).split()
    if words and len(words) <= MAX_WORDS and _strip(words[-1]).lower() not in _INTRO:
        return _segment(head)  # "Honesty: being truthful" names one term and explains it
    return _segment(head) + _segment(tail)  # "My values are: honesty, care" introduces a list


def split_terms(text: str) -> list[str]:
    """Candidate terms of one response, in order, as written (markup and list markers removed).

    Lists give their items ("1. **Honesty**: being truthful" gives "Honesty"; "honesty, care and respect"
    three terms); free text gives phrases of at most three words; nothing is longer than
    :data:`MAX_WORDS` words. Candidates still need :func:`normalise` and :func:`is_value_term`.
    """
    out: list[str] = []
    for raw in unify_characters(text).splitlines():
        for line in _INLINE_NUMBER.split(raw):
            line = _markdown(_MARKER.sub("", line, count=1)).strip()
            if line:
                out += _line_terms(line)
    return out
