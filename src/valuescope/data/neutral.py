"""Morally neutral comparison items: authored words matched to moral words in frequency and length.

``data/neutral_words.csv`` (``word,category``) holds about 1,300 single English words with no moral
connotation: concrete nouns, everyday verbs and form adjectives, plain and inflected, common and rare,
none of them in any MoralStrength file. :func:`matched_neutral` picks those whose (Zipf frequency,
length) match a set of moral words, and :func:`form_balance` reports how well it worked.
``data/neutral_actions.csv`` holds everyday actions phrased like Social-Chem actions, for action-level
studies where word frequency means nothing. Frequencies come from ``wordfreq`` (``zipf_frequency``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from valuescope.data.csvfile import fail, finish, read_frame
from valuescope.data.moral_items import ITEM_COLUMNS, VECTOR_COLUMNS, check_items, is_word, lemma_groups

NEUTRAL_WORDS_FILE = "neutral_words.csv"
NEUTRAL_ACTIONS_FILE = "neutral_actions.csv"
NEUTRAL_SOURCE = "neutral-authored"
MAX_MULTIWORD = 0.10
"""Above this share of multi-word moral texts, word-form matching is refused."""


def zipf(texts: Sequence[str]) -> np.ndarray:
    """English Zipf frequency of each text (``wordfreq.zipf_frequency``; 0 for words it has never seen)."""
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        raise ImportError("neutral-word matching needs wordfreq; run `pip install 'wordfreq>=3'`") from None
    return np.array([zipf_frequency(t, "en") for t in texts], dtype=float)


def _neutral_frame(texts: Sequence[str], lemmas: Sequence[str]) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame(
        {
            "item_id": [f"neutral:{t}" for t in texts],
            "text": list(texts),
            "lemma": list(lemmas),
            "kind": ["neutral"] * n,
            "foundation": [""] * n,
            "typicality": np.zeros(n),
            **{c: np.zeros(n) for c in VECTOR_COLUMNS},
            "n_foundations": np.zeros(n, dtype=int),
            "source": [NEUTRAL_SOURCE] * n,
        },
        columns=list(ITEM_COLUMNS),
    )


def load_neutral_words(path: str | Path | None = None) -> pd.DataFrame:
    """The neutral word pool (``word``, ``category``); None reads the package's ``neutral_words.csv``.

    Raises :class:`~valuescope.data.csvfile.StimulusError` on a missing column, an empty cell, a
    repeated word, or a word that is not one lower-case token (letters, inner hyphens, apostrophes).
    """
    source, df = read_frame(path, NEUTRAL_WORDS_FILE, ("word", "category"), id_column="word")
    for word, line in zip(df["word"], df["_line"], strict=True):
        if word != word.lower() or not is_word(word):
            raise fail(
                source, line, "word", f"{word!r} is not one lower-case word", "write a single lower-case word"
            )
    return finish(df)


def matched_neutral(
    moral_texts: Sequence[str], n: int, *, pool: pd.DataFrame | None = None, seed: int = 0
) -> pd.DataFrame:
    """``n`` neutral words whose (Zipf frequency, length) distribution matches ``moral_texts``'.

    The ``n`` moral targets are a systematic sample (seeded offset) of the moral words sorted by (zipf,
    length), so they spread over the moral distribution (every word once per full pass if ``n`` exceeds
    them); in a seeded random order, each takes the unused pool word nearest in (zipf, length)
    standardised by the moral words' SDs.
    Returns the :data:`ITEM_COLUMNS` schema (kind "neutral", lemma shared by pool words with one stem)
    plus ``zipf`` and ``length``, in draw order. ValueError if ``n`` exceeds the pool or more than 10% of
    the moral texts are phrases (use :func:`load_neutral_actions` for those).
    """
    texts = [str(t) for t in moral_texts]
    if not texts:
        raise ValueError("moral_texts is empty; pass the moral items' texts")
    phrases = sum(any(c.isspace() for c in t.strip()) for t in texts)
    if phrases > MAX_MULTIWORD * len(texts):
        raise ValueError(
            f"{phrases} of {len(texts)} moral texts contain spaces: they are phrases, and matching single "
            "neutral words by word frequency would be meaningless; use load_neutral_actions() instead"
        )
    words = load_neutral_words() if pool is None else pool
    if "word" not in words.columns:
        raise ValueError("pool lacks a 'word' column; pass a frame like load_neutral_words() returns")
    pool_words = [str(w) for w in words["word"]]
    if len(set(pool_words)) != len(pool_words):
        raise ValueError("pool repeats words; pass each neutral word once")
    if n < 0 or n > len(pool_words):
        raise ValueError(f"n={n}, but the neutral pool holds {len(pool_words)} words; ask for at most that")
    moral = np.column_stack([zipf(texts), [len(t) for t in texts]])
    neutral = np.column_stack([zipf(pool_words), [len(w) for w in pool_words]])
    scale = moral.std(axis=0)
    scale[scale == 0] = 1.0
    moral, neutral = moral / scale, neutral / scale
    rng = np.random.default_rng(seed)
    full, rest = divmod(n, len(texts))
    order = np.lexsort((rng.random(len(texts)), moral[:, 1], moral[:, 0]))
    systematic = order[((np.arange(rest) + rng.random()) * len(texts) / max(rest, 1)).astype(int)]
    draws = rng.permutation(np.concatenate([np.tile(np.arange(len(texts)), full), systematic]))
    free = np.ones(len(pool_words), dtype=bool)
    chosen: list[int] = []
    for target in draws:
        distance = np.where(free, ((neutral - moral[target]) ** 2).sum(axis=1), np.inf)
        best = int(np.argmin(distance))
        free[best] = False
        chosen.append(best)
    lemma_of = lemma_groups(pool_words)
    picked = [pool_words[i] for i in chosen]
    out = _neutral_frame(picked, [lemma_of[w] for w in picked])
    out["zipf"] = neutral[chosen, 0] * scale[0]
    out["length"] = np.array([len(w) for w in picked], dtype=int)
    return check_items(out, NEUTRAL_SOURCE)


def form_balance(moral_texts: Sequence[str], neutral_texts: Sequence[str]) -> dict[str, Any]:
    """Mean and SD of Zipf frequency and length on each side, and two-sample KS tests between them."""
    out: dict[str, Any] = {"n_moral": len(moral_texts), "n_neutral": len(neutral_texts)}
    if not moral_texts or not neutral_texts:
        raise ValueError("form_balance needs at least one moral and one neutral text")
    sides = {"moral": [str(t) for t in moral_texts], "neutral": [str(t) for t in neutral_texts]}
    for name, measure in (("zipf", zipf), ("length", lambda ts: np.array([len(t) for t in ts], float))):
        values = {side: measure(texts) for side, texts in sides.items()}
        for side, v in values.items():
            out[f"{side}_{name}_mean"] = float(v.mean())
            out[f"{side}_{name}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        large = max(len(v) for v in values.values()) > 100  # scipy's exact method fails there with ties
        test = ks_2samp(values["moral"], values["neutral"], method="asymp" if large else "exact")
        out[f"{name}_ks"] = float(test.statistic)
        out[f"{name}_ks_p"] = float(test.pvalue)
    return out


def load_neutral_actions(path: str | Path | None = None) -> pd.DataFrame:
    """Authored everyday actions (``action`` column; None reads the package's ``neutral_actions.csv``) in
    the :data:`ITEM_COLUMNS` schema, kind "neutral", lemma the lower-cased action."""
    source, df = read_frame(path, NEUTRAL_ACTIONS_FILE, ("action",), id_column="action")
    first: dict[str, int] = {}
    for action, line in zip(df["action"], df["_line"], strict=True):
        key = " ".join(action.lower().split())
        if key in first:
            raise fail(
                source, line, "action", f"{action!r} repeats row {first[key]}", "list each action once"
            )
        first[key] = line
    actions = list(finish(df)["action"])
    return check_items(_neutral_frame(actions, [" ".join(a.lower().split()) for a in actions]), source)
