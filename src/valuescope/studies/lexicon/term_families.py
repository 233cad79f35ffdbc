"""Families of the derived forms of one value ("honest", "honesty"; "compassionate", "compassion"):
suffix rules (:data:`DERIVATIONS`) and shared prefixes, checked against the terms' embeddings so that
look-alikes stay apart (:func:`term_families`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["DERIVATIONS", "term_families"]

DERIVATIONS: tuple[tuple[str, str], ...] = (
    ("", "ness"),  # kind -> kindness
    ("", "y"),  # honest -> honesty
    ("", "ty"),  # loyal -> loyalty
    ("", "ity"),  # equal -> equality
    ("e", "ity"),  # creative -> creativity
    ("ble", "bility"),  # responsible -> responsibility
    ("nt", "nce"),  # patient -> patience
    ("nt", "ncy"),  # transparent -> transparency
    ("ous", "osity"),  # curious -> curiosity
    ("etic", "y"),  # empathetic -> empathy
    ("ate", ""),  # compassionate -> compassion
    ("ful", ""),  # respectful -> respect
    ("ing", "e"),  # caring -> care
    ("ing", ""),  # helping -> help
    ("ed", "ation"),  # determined -> determination
)
"""Suffix pairs (a, b) relating two forms of one word: ``stem + a`` and ``stem + b`` are one family
when their embeddings agree (see :func:`term_families`)."""


def _derived(a: str, b: str) -> bool:
    for x, y in DERIVATIONS:
        for u, v in ((a, b), (b, a)):
            if u.endswith(x) and v.endswith(y):
                stem = u[: len(u) - len(x)]
                if len(stem) >= 3 and stem == v[: len(v) - len(y)]:
                    return True
    return False


def _shared_prefix(a: str, b: str) -> bool:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n >= max(4, min(len(a), len(b)) - 2)


def term_families(
    terms: Sequence[str],
    responses: Sequence[int],
    embeddings: np.ndarray,
    *,
    min_cosine: float = 0.6,
    min_cosine_derived: float = 0.4,
) -> pd.DataFrame:
    """Group the forms of one value ("honest", "honesty"; "compassionate", "compassion") into a family.

    Two terms whose words agree except the last are one family when the last words are a known
    derivation (:data:`DERIVATIONS`) and their embeddings have cosine >= ``min_cosine_derived``, or share
    a prefix (all but two letters of the shorter, at least four) with cosine >= ``min_cosine``; families
    are the connected groups. The embedding check keeps look-alikes apart ("care" / "career",
    "grateful" / "grate"). A family is named by its member named in most responses (then the shorter,
    then the first alphabetically).

    ``responses`` is how many responses name each term; ``embeddings`` one row per term. Columns: term,
    family, responses (of the term), family_responses (sum over the family's terms; a response naming two
    forms counts twice).
    """
    names = [str(t) for t in terms]
    counts = np.asarray(responses, dtype=np.int64)
    emb = np.asarray(embeddings, dtype=np.float64)
    if len(set(names)) != len(names):
        raise ValueError("terms must be unique; pass each distinct term once")
    if counts.shape != (len(names),) or emb.ndim != 2 or emb.shape[0] != len(names):
        raise ValueError(
            f"responses ({counts.shape}) and embeddings ({emb.shape}) need one entry / row per term "
            f"({len(names)} terms)"
        )
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    groups: dict[tuple[str, str], list[int]] = {}
    for i, name in enumerate(names):
        *rest, last = name.split(" ")
        groups.setdefault((" ".join(rest), last[:3]), []).append(i)
    for members in groups.values():
        for x, i in enumerate(members):
            a = names[i].split(" ")[-1]
            for j in members[x + 1 :]:
                b = names[j].split(" ")[-1]
                cos = float(unit[i] @ unit[j])
                if (_derived(a, b) and cos >= min_cosine_derived) or (
                    _shared_prefix(a, b) and cos >= min_cosine
                ):
                    parent[root(i)] = root(j)
    members_of: dict[int, list[int]] = {}
    for i in range(len(names)):
        members_of.setdefault(root(i), []).append(i)
    family = [""] * len(names)
    total = np.zeros(len(names), dtype=np.int64)
    for members in members_of.values():
        head = min(members, key=lambda i: (-counts[i], len(names[i]), names[i]))
        for i in members:
            family[i] = names[head]
            total[i] = counts[members].sum()
    return pd.DataFrame({"term": names, "family": family, "responses": counts, "family_responses": total})
