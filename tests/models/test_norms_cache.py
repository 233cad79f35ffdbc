"""The reference-statistics cache is checksummed: a damaged file is measured again, never served."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from valuescope import load_model
from valuescope.models.norms_cache import load_reference, norms_path, save_reference


def test_a_saved_reference_comes_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "r.safetensors"
    means = torch.randn(3, 5)
    save_reference(path, [0.1, 1 / 3, 2.5], means)
    got = load_reference(path, 3, 5)
    assert got is not None
    assert got[0] == [0.1, 1 / 3, 2.5] and torch.equal(got[1], means)
    assert load_reference(path, 4, 5) is None, "a file of another shape is not served"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["flip_a_byte", "truncate", "garbage"])
def test_a_damaged_file_reads_as_absent(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "r.safetensors"
    save_reference(path, [1.0, 2.0], torch.ones(2, 4))
    data = bytearray(path.read_bytes())
    if damage == "flip_a_byte":
        data[-3] ^= 0xFF  # inside the tensor bytes: safetensors itself cannot notice
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not a safetensors file")
    path.write_bytes(bytes(data))
    assert load_reference(path, 2, 4) is None


def test_a_corrupted_norms_cache_is_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESCOPE_CACHE", str(tmp_path))
    lm = load_model("tiny-gpt2")
    first = [lm.mean_residual_norm(rp) for rp in range(lm.n_layers + 1)]
    means = [lm.mean_residual(rp) for rp in range(lm.n_layers + 1)]
    path = norms_path(lm.weights_hash, lm.info.dtype)
    assert path.is_file()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))

    again = load_model("tiny-gpt2")  # a fresh object: nothing held in memory
    assert [again.mean_residual_norm(rp) for rp in range(again.n_layers + 1)] == first
    assert all(torch.equal(again.mean_residual(rp), m) for rp, m in enumerate(means))
    assert load_reference(path, lm.n_layers + 1, lm.d_model) is not None, "the damaged file was rewritten"


def test_temp_files_of_killed_writers_are_cleaned_but_not_a_live_one(tmp_path: Path) -> None:
    import os
    import time

    path = tmp_path / "r.safetensors"
    stale = tmp_path / ".r.safetensors.abc123.tmp"  # what a writer killed mid-write leaves
    live = tmp_path / ".r.safetensors.def456.tmp"  # another process writing right now
    for p in (stale, live):
        p.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    save_reference(path, [1.0], torch.ones(1, 2))
    assert not stale.exists() and live.exists()
    assert load_reference(path, 1, 2) is not None
