"""Bulk extraction to safetensors and reading texts from .txt / .csv / .jsonl files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import get_model

import valuescope
from valuescope import LanguageModel
from valuescope.data.texts import read_texts
from valuescope.model import TokenReadout
from valuescope.readout import store
from valuescope.readout.extract import extract
from valuescope.tensors import load_tensors

TEXTS = [f"extract me {i} " + "x y " * (i % 3) for i in range(12)]


@pytest.fixture
def lm() -> LanguageModel:
    return get_model("tiny-gpt2")


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- extract
def test_extract_writes_residuals_and_metadata(lm: LanguageModel, tmp_path: Path) -> None:
    out = extract(lm, TEXTS, [0, -1], "mean", tmp_path / "r.safetensors", batch_size=4)
    assert out == tmp_path / "r.safetensors"
    tensors, meta = load_tensors(out)
    ref = lm.residuals(TEXTS, [0, -1], "mean")
    assert isinstance(ref, torch.Tensor)
    assert set(tensors) == {"residuals"}
    assert tensors["residuals"].shape == (len(TEXTS), 2, lm.d_model) and close(tensors["residuals"], ref)
    assert meta["model"] == "tiny-gpt2" and meta["weights_sha256"] == lm.weights_hash
    assert meta["read_points"] == [0, lm.n_layers] and meta["pool"] == "mean"
    assert meta["n"] == len(TEXTS) and meta["d_model"] == lm.d_model
    assert meta["valuescope_version"] == valuescope.__version__
    assert meta["interventions"] == [] and len(meta["texts_sha256"]) == 64


def test_extract_through_store_reuses_it(
    lm: LanguageModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "SHARD_SIZE", 5)
    calls: list[int] = []
    original = lm.read

    def counting(items: list[Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(len(items))
        return original(items, *args, **kwargs)

    monkeypatch.setattr(lm, "read", counting)
    a = extract(lm, TEXTS, [1, 2], "last", tmp_path / "a.safetensors", store=tmp_path / "cache")
    assert calls == [5, 5, 2]
    calls.clear()
    b = extract(lm, TEXTS, [1, 2], "last", tmp_path / "b.safetensors", store=tmp_path / "cache")
    assert calls == []
    ta, ma = load_tensors(a)
    tb, mb = load_tensors(b)
    assert torch.equal(ta["residuals"], tb["residuals"]) and ma == mb
    ref = lm.residuals(TEXTS, [1, 2], "last")
    assert close(ta["residuals"], ref)  # type: ignore[arg-type]


def test_extract_all_tokens_writes_mask(lm: LanguageModel, tmp_path: Path) -> None:
    out = extract(lm, TEXTS[:4], [2], "all", tmp_path / "all.safetensors")
    tensors, meta = load_tensors(out)
    ref = lm.residuals(TEXTS[:4], [2], "all")
    assert isinstance(ref, TokenReadout)
    assert set(tensors) == {"residuals", "mask"} and meta["pool"] == "all"
    assert close(tensors["residuals"], ref.values) and torch.equal(tensors["mask"], ref.mask)


def test_extract_records_active_interventions(lm: LanguageModel, tmp_path: Path) -> None:
    with lm.steer(torch.ones(lm.d_model), [1], alpha=0.5, raw=True) as steer:
        out = extract(lm, TEXTS[:3], [2], "last", tmp_path / "s.safetensors")
        fingerprint = steer.fingerprint()
    _, meta = load_tensors(out)
    assert meta["interventions"] == [json.loads(json.dumps(fingerprint))]


def test_extract_errors(lm: LanguageModel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.safetensors"):
        extract(lm, TEXTS, [1], "last", tmp_path / "r.pt")
    with pytest.raises(ValueError, match="pool"):
        extract(lm, TEXTS, [1], "max", tmp_path / "r.safetensors")
    with pytest.raises(ValueError, match="empty"):
        extract(lm, [], [1], "last", tmp_path / "r.safetensors")
    assert not (tmp_path / "r.safetensors").exists()


# --------------------------------------------------------------------------- read_texts
def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def one_line_error(exc: pytest.ExceptionInfo[BaseException], *parts: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, (part, msg)


def test_txt_one_text_per_non_empty_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "first line\n\n  second line  \r\n   \nthird, with comma\n")
    assert read_texts(path) == ["first line", "second line", "third, with comma"]
    assert read_texts(str(path)) == read_texts(path)


def test_csv_text_column_only_column_or_named_column(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'id,text,label\n1,"Hello, world",x\n2,"Two\nlines",y\n\n3,plain,z\n')
    assert read_texts(path) == ["Hello, world", "Two\nlines", "plain"]
    assert read_texts(path, column="label") == ["x", "y", "z"]
    single = write(tmp_path, "s.csv", "sentence\nfoo\nbar baz\n")
    assert read_texts(single) == ["foo", "bar baz"]
    bom = write(tmp_path, "bom.csv", "\ufefftext\nhi\n".encode())
    assert read_texts(bom) == ["hi"]


def test_csv_errors(tmp_path: Path) -> None:
    many = write(tmp_path, "m.csv", "id,sentence,label\n1,foo,x\n")
    with pytest.raises(ValueError) as exc:
        read_texts(many)
    one_line_error(exc, str(many), "'id', 'sentence', 'label'", "--column")
    with pytest.raises(ValueError) as exc:
        read_texts(many, column="body")
    one_line_error(exc, str(many), "'body'", "'sentence'")
    gap = write(tmp_path, "g.csv", "id,text\n1,ok\n2,\n")
    with pytest.raises(ValueError) as exc:
        read_texts(gap)
    one_line_error(exc, str(gap), "line 3", "empty")
    short = write(tmp_path, "short.csv", "id,text\n1,ok\n2\n")
    with pytest.raises(ValueError) as exc:
        read_texts(short)
    one_line_error(exc, str(short), "line 3")
    header_only = write(tmp_path, "h.csv", "text\n")
    with pytest.raises(ValueError) as exc:
        read_texts(header_only)
    one_line_error(exc, str(header_only), "no texts")
    empty = write(tmp_path, "e.csv", "")
    with pytest.raises(ValueError) as exc:
        read_texts(empty)
    one_line_error(exc, str(empty), "empty")


def test_jsonl_field_and_column(tmp_path: Path) -> None:
    rows = [{"text": "alpha", "alt": "A"}, {"text": "beta", "alt": "B"}]
    path = write(tmp_path, "r.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert read_texts(path) == ["alpha", "beta"]
    assert read_texts(path, column="alt") == ["A", "B"]


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ('{"text": "ok"}\n{"text": "broken"\n', ["line 2", "not valid JSON"]),
        ('{"text": "ok"}\n\n{"body": "x"}\n', ["line 3", "'text'", "--column"]),
        ('{"text": "ok"}\n{"text": 5}\n', ["line 2", "int", "not a string"]),
        ('{"text": "ok"}\n{"text": null}\n', ["line 2", "NoneType"]),
        ('["text", "ok"]\n', ["line 1", "object"]),
        ('{"text": "  "}\n', ["line 1", "empty"]),
        ("\n\n", ["no texts"]),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, content: str, parts: list[str]) -> None:
    path = write(tmp_path, "bad.jsonl", content)
    with pytest.raises(ValueError) as exc:
        read_texts(path)
    one_line_error(exc, str(path), *parts)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        read_texts(tmp_path / "missing.txt")
    one_line_error(missing, str(tmp_path / "missing.txt"), "no such file")
    empty = write(tmp_path, "e.txt", "\n  \n")
    with pytest.raises(ValueError) as exc:
        read_texts(empty)
    one_line_error(exc, str(empty), "no texts")
    odd = write(tmp_path, "x.parquet", "whatever")
    with pytest.raises(ValueError) as exc:
        read_texts(odd)
    one_line_error(exc, str(odd), ".txt, .csv or .jsonl")
    binary = write(tmp_path, "b.txt", b"caf\xe9\n")
    with pytest.raises(ValueError) as exc:
        read_texts(binary)
    one_line_error(exc, str(binary), "UTF-8")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        read_texts(tmp_path)
    txt = write(tmp_path, "t.txt", "a\n")
    with pytest.raises(ValueError) as exc:
        read_texts(txt, column="text")
    one_line_error(exc, str(txt), ".csv and .jsonl")
