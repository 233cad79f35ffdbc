"""safetensors I/O: round trips with JSON metadata, atomic writes, clear errors, no pickle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import valuescope.tensors as vt
from valuescope.tensors import (
    load_tensors,
    read_metadata,
    save_tensors,
    tensors_from_bytes,
    write_bytes_atomic,
)


def test_round_trip_keeps_tensors_and_json_metadata(tmp_path: Path) -> None:
    tensors = {
        "f32": torch.randn(3, 4),
        "bf16": torch.randn(5).to(torch.bfloat16),
        "i64": torch.arange(6).reshape(2, 3),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 7),
    }
    meta = {
        "name": "tiny-gpt2",
        "n": 3,
        "ratio": 0.25,
        "read_points": [0, 2, 4],
        "nested": {"a": [1, {"b": None}], "ok": True},
        "nothing": None,
        "unicode": "värden ✓",
    }
    out = save_tensors(tmp_path / "sub" / "x.safetensors", tensors, meta)
    assert out == tmp_path / "sub" / "x.safetensors"
    loaded, loaded_meta = load_tensors(out)
    assert loaded.keys() == tensors.keys()
    for k, t in tensors.items():
        assert loaded[k].dtype == t.dtype and torch.equal(loaded[k], t)
    assert loaded_meta == meta
    assert read_metadata(out) == meta


def test_no_metadata_gives_empty_dict(tmp_path: Path) -> None:
    save_tensors(tmp_path / "x.safetensors", {"a": torch.ones(2)})
    _, meta = load_tensors(tmp_path / "x.safetensors")
    assert meta == {}


def test_views_and_non_contiguous_tensors_are_saved_by_value(tmp_path: Path) -> None:
    base = torch.arange(24.0).reshape(4, 6)
    tensors = {"rows": base[1:3], "t": base.t(), "col": base[:, 2]}
    save_tensors(tmp_path / "v.safetensors", tensors)
    loaded, _ = load_tensors(tmp_path / "v.safetensors")
    for k, t in tensors.items():
        assert torch.equal(loaded[k], t)


def test_overwrite_is_atomic_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.safetensors"
    save_tensors(path, {"a": torch.ones(2)}, {"v": 1})
    save_tensors(path, {"a": torch.zeros(3)}, {"v": 2})
    loaded, meta = load_tensors(path)
    assert torch.equal(loaded["a"], torch.zeros(3)) and meta == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.safetensors"]

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vt, "_st_save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_tensors(path, {"a": torch.full((4,), 9.0)}, {"v": 3})
    loaded, meta = load_tensors(path)  # the old file is intact
    assert torch.equal(loaded["a"], torch.zeros(3)) and meta == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.safetensors"]


def test_write_bytes_atomic(tmp_path: Path) -> None:
    path = write_bytes_atomic(tmp_path / "d" / "m.json", b'{"a": 1}')
    assert path.read_bytes() == b'{"a": 1}'
    write_bytes_atomic(path, b"2")
    assert path.read_bytes() == b"2"
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_tensors(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        read_metadata(missing)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", b"plain text, not a safetensors file\n", b"\x10" + b"\x00" * 7 + b"{not json}......"],
)
def test_non_safetensors_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*not a .*safetensors"):
        load_tensors(path)


def test_truncated_or_directory_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    save_tensors(path, {"a": torch.randn(100)}, {"k": "v"})
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_tensors(path)
    with pytest.raises(ValueError, match="not a file"):
        load_tensors(tmp_path)


def test_metadata_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'when'"):
        save_tensors(tmp_path / "x.safetensors", {"a": torch.ones(1)}, {"when": object()})
    with pytest.raises(TypeError, match="'nan'"):
        save_tensors(tmp_path / "x.safetensors", {"a": torch.ones(1)}, {"nan": float("nan")})
    with pytest.raises(TypeError, match="torch tensors"):
        save_tensors(tmp_path / "x.safetensors", {"a": [1, 2]})  # type: ignore[dict-item]
    assert not list(tmp_path.iterdir())


def test_foreign_files_with_plain_string_metadata_load(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, str(path), metadata={"format": "pt", "n": "3"})
    tensors, meta = tensors_from_bytes(path.read_bytes())
    assert torch.equal(tensors["w"], torch.ones(2))
    assert meta == {"format": "pt", "n": 3}


def test_no_pickle_in_disk_io_modules() -> None:
    root = Path(vt.__file__).parent
    for rel in ["tensors.py", "readout/store.py", "readout/extract.py"]:
        src = (root / rel).read_text()
        for banned in ("import pickle", "from pickle", "torch.load(", "torch.save(", "weights_only"):
            assert banned not in src, (rel, banned)
