"""Dequantize a GGUF file once with transformers and cache it as safetensors.

The cache directory is written under a temporary name and renamed into place, under a file
lock, so two processes starting at once neither corrupt it nor both pay for the conversion.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import platformdirs
import torch
from filelock import FileLock

from valuescope.files import sha256_file

INFO_FILE = "valuescope-source.json"


def cache_root() -> Path:
    """``$VALUESCOPE_CACHE`` or the user cache directory."""
    env = os.environ.get("VALUESCOPE_CACHE")
    root = Path(env) if env else Path(platformdirs.user_cache_dir("valuescope"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def gguf_quantization(path: Path) -> str:
    """The GGUF's declared file type and a count of its tensor types, e.g. 'Q4_K_M (Q4_K:...)'."""
    from gguf import GGUFReader, LlamaFileType

    reader = GGUFReader(str(path))
    field = reader.fields.get("general.file_type")
    file_type = "unknown"
    if field is not None:
        try:
            file_type = LlamaFileType(int(field.contents())).name.removeprefix("MOSTLY_")
        except ValueError:
            file_type = str(field.contents())
    counts = Counter(t.tensor_type.name for t in reader.tensors)
    detail = ", ".join(f"{k}:{v}" for k, v in counts.most_common())
    return f"{file_type} ({detail})"


def cached_dir_for(key: str) -> Path:
    """Where the cache entry named ``key`` lives (it may not exist yet)."""
    return cache_root() / "models" / key


def read_cache_info(directory: Path) -> dict[str, str] | None:
    info = directory / INFO_FILE
    if not info.exists():
        return None
    data: dict[str, str] = json.loads(info.read_text())
    return data


def ensure_safetensors_cache(gguf_path: Path, key: str) -> Path:
    """Return a directory holding the dequantized model and tokenizer for ``gguf_path``.

    ``key`` names the cache entry (include the GGUF's hash in it so a changed file gets a new entry).
    """
    target = cached_dir_for(key)
    if read_cache_info(target) is not None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if read_cache_info(target) is not None:  # another process finished while we waited
            return target
        if target.exists():  # a crashed earlier attempt: no info file means incomplete
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
        try:
            _convert(gguf_path, tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _convert(gguf_path: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None  # type: ignore[assignment]
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    weights = sorted(out.glob("*.safetensors"))
    digest = hashlib.sha256()
    for w in weights:
        digest.update(sha256_file(w).encode())
    info = {
        "gguf_file": str(gguf_path),
        "gguf_sha256": sha256_file(gguf_path),
        "quantization": gguf_quantization(gguf_path),
        "weights_sha256": digest.hexdigest(),
    }
    # Written last: its presence marks the entry as complete.
    (out / INFO_FILE).write_text(json.dumps(info, indent=2))
