"""The on-disk activation store: reuse, resume, invalidation, corruption, locking, lazy reading."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import get_model

from valuescope import LanguageModel
from valuescope.model import Item, TokenReadout
from valuescope.readout import store
from valuescope.readout.store import cached_residuals, open_store, store_key, tokenizer_fingerprint

TEXTS: list[Item] = [f"text number {i}: " + "a b c " * (i % 4) for i in range(30)]
RP = [0, 2, 4]
SHARD = 8  # 30 items -> shards of 8, 8, 8, 6
N_SHARDS = 4


@pytest.fixture
def lm() -> LanguageModel:
    return get_model("tiny-gpt2")


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "SHARD_SIZE", SHARD)


def reference(lm: LanguageModel, pool: str = "last", texts: list[Item] = TEXTS) -> Any:
    return lm.residuals(texts, RP, pool)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-5)


class Reads:
    """Counts what the model computes: ``read`` calls (one per shard) and forward passes."""

    def __init__(self, lm: LanguageModel, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[Item]] = []
        self.forwards = 0
        self.fail_after: int | None = None
        self.on_call: Any = None
        original = lm.read

        def wrapped(items: list[Item], *args: Any, **kwargs: Any) -> Any:
            if self.fail_after is not None and len(self.calls) >= self.fail_after:
                raise KeyboardInterrupt("simulated kill")
            if self.on_call is not None:
                self.on_call(len(self.calls))
            self.calls.append(list(items))
            return original(items, *args, **kwargs)

        monkeypatch.setattr(lm, "read", wrapped)
        self._handle = lm.layout.blocks[0].register_forward_pre_hook(self._count)

    def _count(self, *args: Any) -> None:
        self.forwards += 1

    def reset(self) -> None:
        self.calls.clear()
        self.forwards = 0


@pytest.fixture
def reads(lm: LanguageModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    r = Reads(lm, monkeypatch)
    yield r
    r._handle.remove()


def entry_of(root: Path) -> Path:
    entries = [p for p in root.iterdir() if p.is_dir()]
    assert len(entries) == 1
    return entries[0]


def manifest_of(entry: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((entry / "manifest.json").read_text())
    return manifest


# --------------------------------------------------------------------------- basics
@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_matches_uncached_and_second_request_computes_nothing(
    lm: LanguageModel, reads: Reads, tmp_path: Path, pool: str
) -> None:
    ref = reference(lm, pool)
    reads.reset()
    first = lm.residuals(TEXTS, RP, pool, batch_size=4, store=tmp_path)
    assert len(reads.calls) == N_SHARDS and reads.forwards > 0
    assert [len(c) for c in reads.calls] == [8, 8, 8, 6]
    reads.reset()
    second = lm.residuals(TEXTS, RP, pool, batch_size=4, store=tmp_path)
    assert reads.calls == [] and reads.forwards == 0
    if pool == "all":
        assert isinstance(ref, TokenReadout) and isinstance(first, TokenReadout)
        assert isinstance(second, TokenReadout)
        assert close(first.values, ref.values) and torch.equal(first.mask, ref.mask)
        assert torch.equal(second.values, first.values) and torch.equal(second.mask, first.mask)
    else:
        assert isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
        assert first.dtype == torch.float32 and first.shape == (len(TEXTS), len(RP), lm.d_model)
        assert close(first, ref) and torch.equal(second, first)


def test_on_disk_layout_and_checksums(lm: LanguageModel, tmp_path: Path) -> None:
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    key = store_key(lm, TEXTS, RP, "last")
    entry = tmp_path / key
    assert entry_of(tmp_path) == entry
    assert (tmp_path / f"{key}.lock").exists()
    names = sorted(p.name for p in entry.iterdir())
    assert names == ["manifest.json"] + [f"shard-{i:05d}.safetensors" for i in range(N_SHARDS)]
    m = manifest_of(entry)
    assert m["key"] == key and m["complete"] is True and m["n"] == len(TEXTS)
    assert m["shard_size"] == SHARD and m["n_shards"] == N_SHARDS
    assert m["pool"] == "last" and m["read_points"] == RP
    assert m["spec"]["weights_sha256"] == lm.weights_hash and m["spec"]["chat_template"] is None
    assert [(r["start"], r["stop"]) for r in m["shards"]] == [(0, 8), (8, 16), (16, 24), (24, 30)]
    for rec in m["shards"]:
        data = (entry / rec["file"]).read_bytes()
        assert rec["sha256"] == hashlib.sha256(data).hexdigest() and rec["bytes"] == len(data)


def test_each_shard_holds_its_items_in_input_order(lm: LanguageModel, tmp_path: Path) -> None:
    ref = reference(lm)
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    entry = open_store(tmp_path, store_key(lm, TEXTS, RP, "last"))
    assert len(entry) == len(TEXTS) and entry.complete and entry.read_points == RP
    chunks = list(entry)
    assert [(a, b) for a, b, _ in chunks] == [(0, 8), (8, 16), (16, 24), (24, 30)]
    for a, b, values in chunks:
        assert isinstance(values, torch.Tensor) and close(values, ref[a:b])
    assert close(entry.load(), ref)  # type: ignore[arg-type]


def test_shards_are_written_one_at_a_time(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    """Before computing shard k, shards 0..k-1 are already on disk and in the manifest."""
    seen: list[int] = []

    def check(k: int) -> None:
        if k == 0:
            return
        m = manifest_of(entry_of(tmp_path))
        assert [r["index"] for r in m["shards"]] == list(range(k))
        seen.append(k)

    reads.on_call = check
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert seen == [1, 2, 3]


def test_progress_bar_and_bad_shard_size(lm: LanguageModel, tmp_path: Path) -> None:
    out = cached_residuals(lm, TEXTS, RP, "mean", tmp_path, 4, True, shard_size=5)
    assert close(out, reference(lm, "mean"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shard_size"):
        cached_residuals(lm, TEXTS, RP, "mean", tmp_path / "x", shard_size=0)


def test_existing_entry_keeps_its_shard_size(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    cached_residuals(lm, TEXTS, RP, "last", tmp_path, shard_size=4)
    reads.reset()
    cached_residuals(lm, TEXTS, RP, "last", tmp_path, shard_size=10)
    assert reads.calls == []
    assert manifest_of(entry_of(tmp_path))["shard_size"] == 4


# --------------------------------------------------------------------------- resume
def test_interrupted_run_resumes_from_last_complete_shard(
    lm: LanguageModel, reads: Reads, tmp_path: Path
) -> None:
    ref = reference(lm)
    reads.reset()
    reads.fail_after = 2
    with pytest.raises(KeyboardInterrupt):
        lm.residuals(TEXTS, RP, "last", store=tmp_path)
    m = manifest_of(entry_of(tmp_path))
    assert [r["index"] for r in m["shards"]] == [0, 1] and m["complete"] is False
    reads.reset()
    reads.fail_after = None
    out = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert reads.calls == [TEXTS[16:24], TEXTS[24:30]]
    assert isinstance(out, torch.Tensor) and close(out, ref)
    assert manifest_of(entry_of(tmp_path))["complete"] is True


def test_leftover_temp_files_are_removed(lm: LanguageModel, tmp_path: Path) -> None:
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    entry = entry_of(tmp_path)
    stray = entry / ".shard-00001.safetensors.abc123.tmp"
    stray.write_bytes(b"half a shard")
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert not stray.exists()


_CHILD = """
import sys, time
from pathlib import Path
from valuescope import load_model
from valuescope.readout import store
from valuescope.readout.extract import extract
store.SHARD_SIZE = 4
lm = load_model("tiny-gpt2")
original = lm.read
def slow(*args, **kwargs):
    time.sleep(0.4)
    return original(*args, **kwargs)
lm.read = slow
texts = [f"sentence {i} " + "word " * (i % 5) for i in range(60)]
extract(lm, texts, [1, 3], "last", Path(sys.argv[1]), batch_size=4, store=sys.argv[2], progress=False)
"""


@pytest.mark.slow
def test_sigkilled_extraction_resumes_without_recomputing_complete_shards(
    lm: LanguageModel, reads: Reads, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts: list[Item] = [f"sentence {i} " + "word " * (i % 5) for i in range(60)]
    n_shards = 15
    root = tmp_path / "store"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TRANSFORMERS_VERBOSITY="error")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "child.safetensors"), str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        recorded = 0
        while time.monotonic() < deadline and child.poll() is None:
            manifests = list(root.glob("*/manifest.json")) if root.exists() else []
            if manifests:
                try:
                    recorded = len(json.loads(manifests[0].read_text())["shards"])
                except (OSError, ValueError):
                    recorded = 0  # never half-written (atomic), but be safe
            if recorded >= 1:
                break
            time.sleep(0.02)
        assert child.poll() is None, f"child ended early: {child.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
        assert recorded >= 1, "no shard recorded in time"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        assert child.stderr is not None
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "child.safetensors").exists()

    entry = entry_of(root)
    m = manifest_of(entry)
    done = [r["index"] for r in m["shards"]]
    assert 1 <= len(done) < n_shards and m["complete"] is False
    assert done == list(range(len(done)))  # contiguous from the start: the last complete shard

    monkeypatch.setattr(store, "SHARD_SIZE", 4)
    reads.reset()
    out = lm.residuals(texts, [1, 3], "last", batch_size=4, store=root)
    computed = [texts.index(c[0]) // 4 for c in reads.calls]
    assert computed == [i for i in range(n_shards) if i not in done]
    reads.reset()
    ref = lm.residuals(texts, [1, 3], "last", batch_size=4)
    assert isinstance(out, torch.Tensor) and isinstance(ref, torch.Tensor) and close(out, ref)
    assert manifest_of(entry)["complete"] is True
    assert not list(entry.glob(".*.tmp"))


# --------------------------------------------------------------------------- invalidation
def test_changed_inputs_never_serve_stale_values(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    base = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert isinstance(base, torch.Tensor)
    changed = list(TEXTS)
    changed[17] = "a completely different sentence"
    with_context = list(TEXTS)
    with_context[3] = ("Some context. ", str(TEXTS[3]))
    variants: list[tuple[list[Item], list[int], str]] = [
        (changed, RP, "last"),
        (with_context, RP, "last"),
        (TEXTS, [0, 2], "last"),
        (TEXTS, [4, 2, 0], "last"),
        (TEXTS, RP, "mean"),
        (TEXTS[:-1], RP, "last"),
    ]
    keys = {store_key(lm, TEXTS, RP, "last")}
    for texts, rp, pool in variants:
        keys.add(store_key(lm, texts, rp, pool))
        reads.reset()
        out = lm.residuals(texts, rp, pool, store=tmp_path)
        assert reads.calls, (texts[:2], rp, pool)
        reads.reset()
        assert close(out, lm.residuals(texts, rp, pool))  # type: ignore[arg-type]
    assert len(keys) == len(variants) + 1
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == len(variants) + 1
    assert store_key(lm, TEXTS, RP, "last", chat_template="{{ x }}") not in keys
    reads.reset()
    again = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert reads.calls == [] and torch.equal(again, base)  # type: ignore[arg-type]


def test_active_intervention_gets_its_own_entry(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    plain = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    vector = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0))
    with lm.steer(vector, [1], alpha=2.0, raw=True):
        key = store_key(lm, TEXTS, RP, "last")
        reads.reset()
        steered = lm.residuals(TEXTS, RP, "last", store=tmp_path)
        assert len(reads.calls) == N_SHARDS
        expected = lm.residuals(TEXTS, RP, "last")
    assert key != store_key(lm, TEXTS, RP, "last")
    assert isinstance(steered, torch.Tensor) and isinstance(plain, torch.Tensor)
    assert close(steered, expected)  # type: ignore[arg-type]
    assert not close(steered[:, 1:], plain[:, 1:])
    with lm.steer(vector, [1], alpha=3.0, raw=True):
        assert store_key(lm, TEXTS, RP, "last") != key
    reads.reset()
    assert torch.equal(lm.residuals(TEXTS, RP, "last", store=tmp_path), plain)  # type: ignore[arg-type]
    assert reads.calls == []


def test_different_model_weights_get_their_own_entry(lm: LanguageModel, tmp_path: Path) -> None:
    model = copy.deepcopy(lm.model)
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    other = LanguageModel(model, lm.tokenizer, lm.info)
    assert other.weights_hash != lm.weights_hash
    plain = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    edited = other.residuals(TEXTS, RP, "last", store=tmp_path)
    assert store_key(other, TEXTS, RP, "last") != store_key(lm, TEXTS, RP, "last")
    assert close(edited, other.residuals(TEXTS, RP, "last"))  # type: ignore[arg-type]
    assert not close(edited, plain)  # type: ignore[arg-type]


def test_tokenizer_fingerprint_tracks_vocab_and_special_tokens(lm: LanguageModel) -> None:
    from valuescope.models.tiny import tiny_tokenizer

    byte, sp = tiny_tokenizer("byte"), tiny_tokenizer("sp")
    assert tokenizer_fingerprint(byte) == tokenizer_fingerprint(tiny_tokenizer("byte"))
    assert tokenizer_fingerprint(byte) != tokenizer_fingerprint(sp)
    grown = tiny_tokenizer("byte")
    grown.add_tokens(["<new-token>"])
    assert tokenizer_fingerprint(grown) != tokenizer_fingerprint(byte)

    class Slow:  # no fast backend: class, vocab and special tokens
        def __init__(self, vocab: dict[str, int]) -> None:
            self.vocab = vocab
            self.special_tokens_map = {"bos_token": "<s>"}

        def get_vocab(self) -> dict[str, int]:
            return self.vocab

    assert tokenizer_fingerprint(Slow({"a": 0, "b": 1})) == tokenizer_fingerprint(Slow({"b": 1, "a": 0}))
    assert tokenizer_fingerprint(Slow({"a": 0, "b": 1})) != tokenizer_fingerprint(Slow({"a": 1, "b": 0}))


# --------------------------------------------------------------------------- corruption
def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 64, len(data) - 32):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "garbage"])
def test_corrupt_shard_is_detected_and_recomputed(
    lm: LanguageModel, reads: Reads, tmp_path: Path, damage: str
) -> None:
    ref = reference(lm)
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    shard = entry_of(tmp_path) / "shard-00002.safetensors"
    if damage == "flip":
        _flip_bytes(shard)
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-100])
    elif damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(b"x" * shard.stat().st_size)
    if damage in ("flip", "garbage"):
        with pytest.raises(ValueError, match=r"shard-00002.*checksum"):
            list(open_store(entry_of(tmp_path)))
    reads.reset()
    if damage in ("flip", "garbage"):  # same size: caught by the checksum while assembling
        with pytest.warns(UserWarning, match="checksum"):
            out = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    else:
        out = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert reads.calls == [TEXTS[16:24]]
    assert close(out, ref)  # type: ignore[arg-type]
    reads.reset()
    assert close(lm.residuals(TEXTS, RP, "last", store=tmp_path), ref)  # type: ignore[arg-type]
    assert reads.calls == []
    m = manifest_of(entry_of(tmp_path))
    rec = m["shards"][2]
    assert rec["sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest()


def test_corrupt_manifest_starts_over(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    lm.residuals(TEXTS, RP, "last", store=tmp_path)
    (entry_of(tmp_path) / "manifest.json").write_text("{ not json")
    reads.reset()
    out = lm.residuals(TEXTS, RP, "last", store=tmp_path)
    assert len(reads.calls) == N_SHARDS
    assert close(out, reference(lm))  # type: ignore[arg-type]


def test_open_store_errors(tmp_path: Path, lm: LanguageModel) -> None:
    with pytest.raises(FileNotFoundError, match="manifest"):
        open_store(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        open_store(tmp_path / "bad")


def test_lazy_reader_of_all_pool(lm: LanguageModel, tmp_path: Path) -> None:
    ref = reference(lm, "all")
    lm.residuals(TEXTS, RP, "all", store=tmp_path)
    entry = open_store(entry_of(tmp_path))
    for a, b, chunk in entry.shards():
        assert isinstance(chunk, TokenReadout)
        w = chunk.values.shape[2]
        assert close(chunk.values, ref.values[a:b, :, :w]) and torch.equal(chunk.mask, ref.mask[a:b, :w])
    loaded = entry.load()
    assert isinstance(loaded, TokenReadout) and close(loaded.values, ref.values)


# --------------------------------------------------------------------------- concurrency
def test_two_writers_share_one_computation(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    ref = reference(lm)
    reads.reset()
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    def run(slot: int) -> None:
        try:
            results[slot] = cached_residuals(lm, TEXTS, RP, "last", tmp_path)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(reads.calls) == N_SHARDS  # the second writer waited on the lock, then computed nothing
    assert close(results[0], ref) and torch.equal(results[0], results[1])


def test_a_held_lock_blocks_writers(lm: LanguageModel, reads: Reads, tmp_path: Path) -> None:
    from filelock import FileLock

    key = store_key(lm, TEXTS, RP, "last")
    lock = FileLock(str(tmp_path / f"{key}.lock"))
    finished = threading.Event()

    def run() -> None:
        cached_residuals(lm, TEXTS, RP, "last", tmp_path)
        finished.set()

    with lock:
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.5)
        assert not finished.is_set() and reads.calls == []
    t.join(timeout=120)
    assert finished.is_set() and len(reads.calls) == N_SHARDS
