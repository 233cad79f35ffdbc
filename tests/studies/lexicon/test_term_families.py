"""Families of derived term forms: joined when their embeddings agree, look-alikes kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.studies.lexicon.term_families import term_families


def _embed(groups: list[list[str]], spread: float = 0.05, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Terms in groups: one random direction per group plus a little noise (so within-group cosine ~1)."""
    rng = np.random.default_rng(seed)
    names, rows = [], []
    for group in groups:
        centre = rng.standard_normal(32)
        for name in group:
            names.append(name)
            rows.append(centre + spread * rng.standard_normal(32))
    return names, np.array(rows)


def test_families_join_derived_forms_that_embed_alike() -> None:
    names, emb = _embed(
        [
            ["honest", "honesty"],
            ["kind", "kindness"],
            ["compassionate", "compassion"],
            ["caring", "care"],
            ["responsible", "responsibility"],
            ["user privacy", "user privacies"],
            ["zeal"],
        ]
    )
    counts = [3, 9, 5, 2, 1, 4, 2, 2, 1, 6, 2, 1, 7]
    fam = term_families(names, counts, emb).set_index("term")
    assert fam.loc["honest", "family"] == "honesty"  # the form named in more responses names the family
    assert fam.loc["kind", "family"] == fam.loc["kindness", "family"] == "kind"
    assert fam.loc["compassionate", "family"] == "compassion"
    assert fam.loc["care", "family"] == "care" and fam.loc["caring", "family"] == "care"  # tie: shorter
    assert fam.loc["responsible", "family"] == "responsibility"
    assert fam.loc["user privacies", "family"] == "user privacy"  # multiword: same words but the last
    assert fam.loc["zeal", "family"] == "zeal"
    assert fam.loc["honesty", "family_responses"] == 12


def test_families_keep_look_alikes_apart_when_embeddings_disagree() -> None:
    names, emb = _embed([["care"], ["career"], ["grateful"], ["grate"], ["honest"], ["honesty"]])
    fam = term_families(names, [1] * 6, emb)
    assert (fam["family"] == fam["term"]).all()  # unrelated directions: nobody merges
    # unrelated words with aligned embeddings still stay apart (no shared form)
    names, emb = _embed([["kindness", "compassion", "empathy"]])
    fam = term_families(names, [1, 1, 1], emb)
    assert (fam["family"] == fam["term"]).all()


def test_families_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="unique"):
        term_families(["a", "a"], [1, 1], np.ones((2, 3)))
    with pytest.raises(ValueError, match="one entry / row per term"):
        term_families(["a", "b"], [1, 1], np.ones((3, 3)))
