"""Loading by registry name, directory and GGUF file; the conversion cache; clear errors."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import pytest
import torch
from conftest import TEXTS, TINY, get_model

from valuescope import load_model
from valuescope.models import gguf_cache
from valuescope.models.layout import LAYOUTS, UnsupportedFamilyError, resolve_layout
from valuescope.models.loader import ModelNotFoundError
from valuescope.models.registry import REGISTRY, _smollm2_gguf


def test_registry_has_the_default_the_instruct_model_and_five_tiny_families() -> None:
    assert {"gemma-3-270m", "smollm2-135m-instruct", *TINY} <= set(REGISTRY)
    families = {get_model(n).info.family for n in TINY}
    assert families == {
        "gpt2", "llama", "qwen3", "gemma3_text", "gpt_neox", "mistral", "qwen2", "phi3", "olmo2", "gemma2"
    }  # fmt: skip


def test_tiny_models_are_deterministic_and_have_likert_digits_and_a_chat_template() -> None:
    a, b = load_model("tiny-llama"), load_model("tiny-llama")
    assert a.weights_hash == b.weights_hash
    for name in TINY:
        tok = get_model(name).tokenizer
        assert tok.chat_template is not None
        for digit in "1234567":
            assert tok.convert_tokens_to_ids(digit) != tok.unk_token_id


def test_a_saved_directory_loads_by_path_with_the_same_outputs(tmp_path: Path) -> None:
    lm = get_model("tiny-qwen3")
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path))
    assert again.info.source == str(tmp_path.resolve())
    assert torch.equal(lm.residuals(TEXTS, layers=[2]), again.residuals(TEXTS, layers=[2]))  # type: ignore[arg-type]
    assert again.weights_hash == lm.weights_hash


def test_defaults_are_float32_on_cpu_and_dtype_can_be_chosen() -> None:
    assert get_model("tiny-gpt2").model.dtype == torch.float32
    lm = load_model("tiny-gpt2", dtype="bfloat16")
    assert lm.model.dtype == torch.bfloat16 and lm.info.dtype == "bfloat16"
    out = lm.residuals(TEXTS[:1], layers=[1])
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32


@pytest.mark.parametrize("name", ["gemma-3-27b", "no/such/dir", "./missing", "missing.gguf", ""])
def test_unknown_models_get_one_line_errors_that_say_what_to_do(name: str) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        load_model(name)
    msg = str(info.value)
    assert "\n" not in msg
    if name == "gemma-3-27b":
        assert "gemma-3-270m" in msg and "valuescope models" in msg


def test_unsupported_family_names_the_supported_ones_and_the_table_to_extend() -> None:
    lm = get_model("tiny-llama")
    lm.model.config.model_type = "martian"
    try:
        with pytest.raises(UnsupportedFamilyError, match="LAYOUTS") as info:
            resolve_layout(lm.model)
        assert "gemma3_text" in str(info.value) and "llama" in str(info.value)
    finally:
        lm.model.config.model_type = "llama"
    assert "llama" in LAYOUTS


def _slow_convert(gguf_path: Path, out: Path) -> None:
    time.sleep(0.5)
    (out / "marker.txt").write_text(str(gguf_path))
    with open(out.parent / "conversions.log", "a") as f:
        f.write("x\n")
    (out / gguf_cache.INFO_FILE).write_text(json.dumps({"quantization": "Q0"}))


def _race(cache: str, results: mp.Queue) -> None:  # type: ignore[type-arg]
    import os

    os.environ["VALUESCOPE_CACHE"] = cache
    gguf_cache._convert = _slow_convert  # type: ignore[assignment]
    results.put(str(gguf_cache.ensure_safetensors_cache(Path("/x.gguf"), "entry")))


def test_two_processes_building_the_cache_at_once_convert_once(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_race, args=(str(tmp_path), results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    paths = {results.get(timeout=5) for _ in procs}
    assert len(paths) == 1
    entry = Path(paths.pop())
    assert (entry / "marker.txt").exists()
    assert (tmp_path / "models" / "conversions.log").read_text() == "x\n"
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".entry-")]


def test_a_conversion_that_crashes_leaves_no_entry_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALUESCOPE_CACHE", str(tmp_path))

    def crash(gguf_path: Path, out: Path) -> None:
        (out / "half.safetensors").write_bytes(b"partial")
        raise MemoryError("killed")

    monkeypatch.setattr(gguf_cache, "_convert", crash)
    with pytest.raises(MemoryError):
        gguf_cache.ensure_safetensors_cache(Path("/x.gguf"), "entry")
    assert list((tmp_path / "models").glob("*entry*")) == [] or all(
        p.suffix == ".lock" for p in (tmp_path / "models").glob("*entry*")
    )


@pytest.mark.real
def test_a_local_gguf_file_is_dequantized_into_a_fresh_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALUESCOPE_CACHE", str(tmp_path))
    path = _smollm2_gguf()
    lm = load_model(str(path))
    assert lm.info.quantization is not None and lm.info.quantization.startswith("Q4_1")
    assert lm.info.family == "llama" and lm.instruct
    [entry] = [p for p in (tmp_path / "models").iterdir() if p.is_dir()]
    info = json.loads((entry / gguf_cache.INFO_FILE).read_text())
    assert info["weights_sha256"] == lm.weights_hash
    reference = get_model("smollm2-135m-instruct")
    assert torch.equal(lm.residuals(TEXTS[:2], layers=[3]), reference.residuals(TEXTS[:2], layers=[3]))  # type: ignore[arg-type]
