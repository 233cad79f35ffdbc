"""Value terms over many responses: the terms each response names, the candidates dropped and why,
and the binary response-by-term matrix.

The first step of a value-lexicon study (after ValueLex, Biedma et al. 2024): models answer elicitation
prompts ("List the five values that matter most to you...") and the terms they name become the lexicon.
:func:`extract_terms` and :func:`filter_report` split each response (``term_split``), normalise and
filter its candidates (``term_filter``) and, given the prompts, also drop terms that only echo the
prompt; :func:`term_matrix` gives the binary response-by-term matrix for clustering and factor analysis."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from valuescope.studies.lexicon.term_filter import (
    WORD,
    normal_form_and_rule,
    singular,
    unify_characters,
    word_parts,
)
from valuescope.studies.lexicon.term_split import split_terms
from valuescope.studies.lexicon.term_vocabulary import STOPWORDS, american

__all__ = ["extract_terms", "filter_report", "term_matrix"]


@lru_cache(maxsize=1024)
def _prompt_words(prompt: str) -> frozenset[str]:
    """The words of a prompt in the forms a term's words take after :func:`normalise`."""
    words = {w.lower() for w in WORD.findall(unify_characters(prompt))}
    return frozenset(words | {american(w) for w in words} | {singular(american(w)) for w in words})


def _echoes(norm: str, prompt: frozenset[str]) -> bool:
    parts = [p for p in word_parts(norm) if p not in STOPWORDS]
    return bool(parts) and all(p in prompt for p in parts)


def _check_prompts(texts: Sequence[str], prompts: Sequence[str] | None) -> list[frozenset[str]] | None:
    if prompts is None:
        return None
    if len(prompts) != len(texts):
        raise ValueError(
            f"prompts has {len(prompts)} entries for {len(texts)} responses; pass one prompt per response"
        )
    return [_prompt_words(p) for p in prompts]


def _candidates(
    texts: Sequence[str], prompts: Sequence[str] | None = None
) -> Iterable[tuple[int, str, str | None, str | None]]:
    """(response, raw candidate, normal form, drop rule) for every candidate of every response."""
    prompt_words = _check_prompts(texts, prompts)
    for response, text in enumerate(texts):
        for raw in split_terms(text):
            norm, rule = normal_form_and_rule(raw)
            if rule is None and prompt_words is not None and norm and _echoes(norm, prompt_words[response]):
                rule = "echo"
            yield response, raw, norm, rule


def _merge_spacing(terms: pd.Series) -> pd.Series:
    """Map variants of one term that differ only in hyphens and spaces onto one form.

    A hyphenated variant wins ("fact checking", "fact-checking" -> "fact-checking"), then the most
    frequent, then the first alphabetically.
    """
    counts = Counter(terms)
    groups: dict[str, list[str]] = {}
    for term in counts:
        groups.setdefault(re.sub(r"[\s-]", "", term), []).append(term)
    target = {}
    for variants in groups.values():
        best = min(variants, key=lambda t: ("-" not in t, -counts[t], t))
        for term in variants:
            target[term] = best
    return terms.map(target)


def extract_terms(texts: Sequence[str], prompts: Sequence[str] | None = None) -> pd.DataFrame:
    """The value terms of each response: one row per (response, term), in order of first mention.

    With ``prompts`` (one per response), terms made only of the prompt's own words are dropped ("echo").

    Columns ``response`` (index into ``texts``), ``rank`` (0 for the first term the response names),
    ``term`` (normalised; spellings that differ only in hyphens and spaces across the corpus merged, a
    hyphenated one winning) and ``raw`` (the first spelling in that response).
    """
    rows = [
        (response, norm, raw) for response, raw, norm, rule in _candidates(texts, prompts) if rule is None
    ]
    df = pd.DataFrame(rows, columns=["response", "term", "raw"])
    df = df.astype({"response": int, "term": object, "raw": object})
    if len(df):
        df["term"] = _merge_spacing(df["term"])
    df = df.drop_duplicates(["response", "term"]).reset_index(drop=True)
    df.insert(1, "rank", df.groupby("response").cumcount().astype(int))
    return df


def filter_report(texts: Sequence[str], prompts: Sequence[str] | None = None) -> pd.DataFrame:
    """The candidates :func:`extract_terms` drops, with the rule that dropped them.

    Columns ``candidate`` (normalised, or as written when normalising fails), ``rule`` (a key of
    :data:`FILTER_RULES`), ``count`` (times seen) and ``responses`` (responses it appears in); most
    frequent first.
    """
    seen: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for response, raw, norm, rule in _candidates(texts, prompts):
        if rule is not None:
            key = (norm if norm is not None else raw.strip(), rule)
            seen[key] += 1
            where.setdefault(key, set()).add(response)
    rows = [(c, r, n, len(where[c, r])) for (c, r), n in seen.items()]
    df = pd.DataFrame(rows, columns=["candidate", "rule", "count", "responses"])
    df = df.astype({"candidate": object, "rule": object, "count": int, "responses": int})
    return df.sort_values(["count", "rule", "candidate"], ascending=[False, True, True], ignore_index=True)


def term_matrix(
    terms: pd.DataFrame, n_responses: int, *, min_share: float = 0.05
) -> tuple[np.ndarray, list[str]]:
    """Binary (response x term) matrix of the terms named in at least ``min_share`` of the responses.

    ``terms`` has columns ``response`` and ``term`` (as :func:`extract_terms` gives). Columns are ordered
    by how many responses name the term, most first, then alphabetically; responses naming no kept term
    are rows of zeros.
    """
    if n_responses < 0:
        raise ValueError(f"n_responses is {n_responses}; pass the number of responses (>= 0)")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share is {min_share}; pass a share of responses in (0, 1]")
    missing = {"response", "term"} - set(terms.columns)
    if missing:
        raise ValueError(f"terms lacks columns {sorted(missing)}; pass the frame extract_terms returns")
    pairs = terms[["response", "term"]].drop_duplicates()
    bad = pairs.loc[(pairs["response"] < 0) | (pairs["response"] >= n_responses), "response"]
    if len(bad):
        raise ValueError(
            f"response {bad.iloc[0]} is outside 0..{n_responses - 1}; pass the right n_responses"
        )
    counts = Counter(str(t) for t in pairs["term"])
    kept = sorted(
        (t for t, n in counts.items() if n >= min_share * n_responses - 1e-9), key=lambda t: (-counts[t], t)
    )
    column = {t: j for j, t in enumerate(kept)}
    matrix = np.zeros((n_responses, len(kept)), dtype=np.uint8)
    for response, term in zip(pairs["response"], pairs["term"], strict=True):
        if term in column:
            matrix[int(response), column[term]] = 1
    return matrix, kept
