"""The offline sentence-embedding model matches sentence-transformers' own pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from valuescope.instruments.sentence_embeddings import model_dir, sentence_embeddings

TEXTS = ["She returned the lost wallet.", "He stole the wallet.", "The cat sat on the mat today, again."]


def test_matches_sentence_transformers() -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(model_dir()), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    ours = sentence_embeddings(TEXTS, batch_size=2)
    assert ours.shape == (3, 384)
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0)


def test_similar_sentences_are_closer() -> None:
    e = sentence_embeddings(["He stole a wallet.", "He took a wallet that was not his.", "The sky is blue."])
    assert e[0] @ e[1] > e[0] @ e[2]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        sentence_embeddings([])


def test_the_disk_cache_returns_the_same_embeddings(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VALUESCOPE_CACHE", str(tmp_path))
    first = sentence_embeddings(TEXTS, cache=True)
    files = list((tmp_path / "sentence-embeddings").glob("*.safetensors"))
    assert len(files) == 1
    assert np.array_equal(sentence_embeddings(TEXTS, cache=True), first)
    assert np.allclose(first, sentence_embeddings(TEXTS), atol=1e-6)
    sentence_embeddings(TEXTS[:2], cache=True)
    assert len(list((tmp_path / "sentence-embeddings").glob("*.safetensors"))) == 2


def test_mpnet_matches_sentence_transformers_when_installed() -> None:
    st = pytest.importorskip("sentence_transformers")
    try:
        path = model_dir("mpnet")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    reference = st.SentenceTransformer(str(path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = sentence_embeddings(TEXTS, batch_size=2, encoder_key="mpnet")
    assert ours.shape == (3, 768)
    assert np.abs(ours - reference).max() < 1e-5


def test_an_unknown_encoder_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown encoder 'bert'; choose one of minilm, mpnet"):
        sentence_embeddings(TEXTS, encoder_key="bert")


def test_batching_by_length_changes_only_rounding() -> None:
    texts = ["a", "a much longer sentence about values and what people hold dear", "mid length text"] * 3
    plain = sentence_embeddings(texts, batch_size=2)
    grouped = sentence_embeddings(texts, batch_size=2, by_length=True)
    assert np.abs(plain - grouped).max() < 1e-5
