"""Moral items with a graded ground truth: one shared schema for every moral-word or moral-action source.

An item is a word or an action with a kind (virtue, vice or neutral), a primary Moral Foundations Theory
foundation, a typicality in [0, 1] (how far its rating sits from the scale midpoint, rescaled) and a
10-dimensional vector (five foundations x two poles) holding every rating the source gives it. Loaders
(MoralStrength, Social-Chem, the authored neutral words) return :class:`LoadedItems` whose ``items``
pass :func:`check_items`. Lemmas group inflections so that splits and resampling move whole words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from valuescope.data.csvfile import StimulusError

FOUNDATIONS = ("care", "fairness", "loyalty", "authority", "sanctity")
"""The five moral foundations, canonical names, in the order every vector and tie-break uses."""
POLES = ("virtue", "vice")
VECTOR_COLUMNS = tuple(f"{f}_{p}" for f in FOUNDATIONS for p in POLES)
"""care_virtue, care_vice, fairness_virtue, ..., sanctity_vice."""
KINDS = ("virtue", "vice", "neutral")
ITEM_COLUMNS = (
    "item_id",
    "text",
    "lemma",
    "kind",
    "foundation",
    "typicality",
    *VECTOR_COLUMNS,
    "n_foundations",
    "source",
)

MULTI_FOUNDATION_RULE = (
    "A word rated under more than one foundation keeps every rating in its 10-d vector. Its primary "
    "foundation (the `foundation` column, used for prototypes, typicality axes and the five-foundation "
    "clustering) is the foundation whose rating lies farthest from the scale midpoint, ties going to the "
    "first in care, fairness, loyalty, authority, sanctity order; its kind is that foundation's pole and "
    "its typicality that foundation's typicality. Ratings with opposite poles under different foundations "
    "are allowed and kept; the primary decides the kind. With multi='drop' such words are removed instead."
)

_ALIASES = {
    "care": "care",
    "care-harm": "care",
    "care/harm": "care",
    "harm": "care",
    "fairness": "fairness",
    "fairness-cheating": "fairness",
    "fairness/cheating": "fairness",
    "loyalty": "loyalty",
    "loyalty-betrayal": "loyalty",
    "loyalty/betrayal": "loyalty",
    "ingroup": "loyalty",
    "authority": "authority",
    "authority-subversion": "authority",
    "authority/subversion": "authority",
    "sanctity": "sanctity",
    "sanctity-degradation": "sanctity",
    "sanctity/degradation": "sanctity",
    "purity": "sanctity",
}


def canonical_foundation(name: str) -> str | None:
    """The canonical foundation for a spelling such as "care-harm", "ingroup" or "Purity"; None if unknown."""
    return _ALIASES.get(name.strip().lower())


@dataclass(frozen=True)
class LoadedItems:
    """Items from one source, with the accounting of what was left out and how the truth was built."""

    items: pd.DataFrame
    source: str
    kept: int
    dropped: dict[str, int]
    """Reason -> how many entries (rows, or words where ``unit`` says so) that reason removed."""
    construction: str
    """One plain paragraph: how kind, typicality and the vector were built from the source's ratings."""
    unit: str = "rows"
    """What ``kept`` and ``dropped`` count."""

    def describe(self) -> str:
        total = self.kept + sum(self.dropped.values())
        reasons = ", ".join(f"{reason} ({n})" for reason, n in self.dropped.items()) or "nothing"
        return f"kept {self.kept} of {total} {self.unit} from {self.source}; dropped: {reasons}"


def _bad(source: str, i: int, item_id: object, column: str, problem: str, fix: str) -> StimulusError:
    return StimulusError(f"{source}: item {i} ({item_id!r}), column {column!r}: {problem}; {fix}")


def _floats(source: str, df: pd.DataFrame, column: str) -> np.ndarray:
    values = np.empty(len(df))
    for i, (item_id, v) in enumerate(zip(df["item_id"], df[column], strict=True)):
        ok = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
        if not ok or not math.isfinite(float(v)) or not 0.0 <= float(v) <= 1.0:
            raise _bad(source, i, item_id, column, f"{v!r} is not a number in [0, 1]", "rescale it")
        values[i] = float(v)
    return values


def check_items(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """A copy of ``df`` with the :data:`ITEM_COLUMNS` first (then any extra columns), schema checked.

    Raises :class:`StimulusError` naming ``source``, the item and the column on the first problem: a
    missing column, an empty or repeated ``item_id``, an empty text or lemma, a kind outside
    virtue/vice/neutral, a non-canonical foundation, a typicality or vector entry outside [0, 1], a
    neutral item with a foundation, typicality or vector, or an ``n_foundations`` that is not a count.
    """
    missing = [c for c in ITEM_COLUMNS if c not in df.columns]
    if missing:
        raise StimulusError(
            f"{source}: missing columns {', '.join(missing)}; moral items need {', '.join(ITEM_COLUMNS)}"
        )
    out = df[list(ITEM_COLUMNS) + [c for c in df.columns if c not in ITEM_COLUMNS]].copy()
    out = out.reset_index(drop=True)
    seen: dict[object, int] = {}
    for i, row in enumerate(out[["item_id", "text", "lemma", "kind", "foundation", "source"]].itertuples()):
        item_id = row.item_id
        for column in ("item_id", "text", "lemma", "source"):
            value = getattr(row, column)
            if not isinstance(value, str) or not value.strip():
                raise _bad(source, i, item_id, column, f"{value!r} is not a non-empty string", "fill it in")
        if item_id in seen:
            raise _bad(source, i, item_id, "item_id", f"repeats item {seen[item_id]}", "make ids unique")
        seen[item_id] = i
        if row.kind not in KINDS:
            raise _bad(source, i, item_id, "kind", f"{row.kind!r} is not a kind", f"use one of {KINDS}")
        if row.kind == "neutral":
            if row.foundation != "":
                raise _bad(source, i, item_id, "foundation", "a neutral item has a foundation", "leave it ''")
        elif row.foundation not in FOUNDATIONS:
            name = row.foundation if isinstance(row.foundation, str) else ""
            hint = canonical_foundation(name)
            fix = f"write {hint!r}" if hint else f"use one of {', '.join(FOUNDATIONS)}"
            raise _bad(source, i, item_id, "foundation", f"{row.foundation!r} is not canonical", fix)
    typicality = _floats(source, out, "typicality")
    vectors = np.stack([_floats(source, out, c) for c in VECTOR_COLUMNS], axis=1)
    counts = []
    for i, (item_id, v) in enumerate(zip(out["item_id"], out["n_foundations"], strict=True)):
        whole = isinstance(v, int | np.integer) or (
            isinstance(v, float | np.floating) and float(v).is_integer()
        )
        if isinstance(v, bool | np.bool_) or not whole or int(v) < 0 or int(v) > len(FOUNDATIONS):
            raise _bad(source, i, item_id, "n_foundations", f"{v!r} is not a count 0-5", "count the ratings")
        counts.append(int(v))
    neutral = (out["kind"] == "neutral").to_numpy()
    rated = np.flatnonzero(neutral & ((typicality != 0) | (vectors != 0).any(axis=1)))
    if len(rated):
        j = int(rated[0])
        column = "typicality" if typicality[j] != 0 else VECTOR_COLUMNS[int(np.flatnonzero(vectors[j])[0])]
        raise _bad(source, j, out["item_id"][j], column, "a neutral item has a moral rating", "zero it")
    for i, (c, is_neutral) in enumerate(zip(counts, neutral, strict=True)):
        if (c == 0) != bool(is_neutral):
            problem = "a neutral item counts ratings" if is_neutral else "a moral item counts no rating"
            raise _bad(source, i, out["item_id"][i], "n_foundations", problem, "count the foundations rated")
    out["typicality"] = typicality
    out[list(VECTOR_COLUMNS)] = vectors
    out["n_foundations"] = np.asarray(counts, dtype=int)
    return out


# ----------------------------------------------------------------------------------------------- lemmas

_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|')*(?:-[^\W\d_](?:[^\W\d_]|')*)*")
_SUFFIXES = ("ments", "ment", "ness", "ers", "ies", "ied", "ing", "er", "ed", "es", "ly", "s")


def is_word(text: str) -> bool:
    """A single word: letters (any script), apostrophes after the first letter, hyphens between letters."""
    return _WORD.fullmatch(text) is not None


def word_stem(word: str) -> str:
    """A light, rule-based stem: one suffix stripped, then spelling normalised, so inflections meet.

    Strips one of -ments, -ment, -ness, -ers, -ies/-ied (to -y), -ing, -er, -ed, -es, -ly, -s (not after
    s, u or i) when three letters remain; then a final -i becomes -y ("happi" -> "happy"), a doubled
    final consonant is undoubled ("abett" -> "abet") and a final -e is dropped ("abuse" -> "abus"), so
    abuse, abused, abuses and abusing all give "abus". Irregular forms (shelf/shelves) do not meet.
    """
    w = word.strip().lower()
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w[-2] in "sui":
                continue
            w = w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    if len(w) >= 4 and w.endswith("i"):
        w = w[:-1] + "y"
    if len(w) >= 4 and w[-1] == w[-2] and w[-1].isalpha() and w[-1] not in "aeiouy":
        w = w[:-1]
    if len(w) >= 4 and w.endswith("e"):
        w = w[:-1]
    return w


def _compatible(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    shared = a.keys() & b.keys()
    return bool(shared) and all(math.isclose(a[f], b[f], abs_tol=1e-6) for f in shared)


def lemma_groups(
    words: Sequence[str],
    ratings: Sequence[Mapping[str, float]] | None = None,
    *,
    known_lemmas: frozenset[str] | set[str] = frozenset(),
) -> dict[str, str]:
    """``{word: lemma key}``: words with the same :func:`word_stem` share a lemma.

    With ``ratings`` (one ``{foundation: rating}`` per word), two words also need at least one foundation
    in common and the same rating in every foundation they share, as MoralStrength gives all inflections of
    a lemma one rating; words join the first compatible group, shortest words first, so a group never
    holds two words whose ratings disagree. The key is the shortest of the group's words that appear in
    ``known_lemmas`` (e.g. the lexicon's original lemma list), else the group's shortest word
    (alphabetical on ties). Deterministic.
    """
    if ratings is not None and len(ratings) != len(words):
        raise ValueError(f"{len(ratings)} ratings for {len(words)} words; give one mapping per word")
    rated = dict(zip(words, ratings, strict=True)) if ratings is not None else None
    buckets: dict[str, list[str]] = {}
    for word in dict.fromkeys(words):
        buckets.setdefault(word_stem(word), []).append(word)
    out: dict[str, str] = {}
    for members in buckets.values():
        groups: list[list[str]] = []
        for word in sorted(members, key=lambda w: (len(w), w)):
            for group in groups:
                if rated is None or all(_compatible(rated[word], rated[other]) for other in group):
                    group.append(word)
                    break
            else:
                groups.append([word])
        for group in groups:
            known = [w for w in group if w in known_lemmas]
            key = min(known or group, key=lambda w: (len(w), w))
            out.update(dict.fromkeys(group, key))
    return out


def lemma_split(items: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean row masks (half_a, half_b) splitting whole lemmas, about half of each kind's lemmas per half.

    A lemma's kind is the kind of its first item. Each kind's lemmas are split with
    :func:`valuescope.stats.split_half` (half_a gets the floor); a kind with a single lemma goes
    to whichever half has fewer lemmas so far. No lemma has rows on both sides.
    """
    from valuescope.stats import split_half

    for column in ("lemma", "kind"):
        if column not in items.columns:
            raise ValueError(f"items lacks the column {column!r}; pass a frame in the ITEM_COLUMNS schema")
    lemmas = items["lemma"].to_numpy(dtype=object)
    first_kind = items.groupby("lemma", sort=False)["kind"].first()
    in_a: dict[str, bool] = {}
    sizes = [0, 0]
    for kind in sorted(set(first_kind), key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k)):
        names = np.asarray(first_kind.index[first_kind == kind], dtype=object)
        if len(names) == 1:
            side_a = sizes[0] <= sizes[1]
            chosen = np.array([side_a])
        else:
            chosen, _ = split_half(names, seed=seed)
        for name, a in zip(names, chosen, strict=True):
            in_a[name] = bool(a)
        sizes[0] += int(chosen.sum())
        sizes[1] += int((~chosen).sum())
    half_a = np.array([in_a[lemma] for lemma in lemmas], dtype=bool)
    return half_a, ~half_a
