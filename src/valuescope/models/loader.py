"""Load a causal LM by registry name, Hugging Face id, local directory or local GGUF file."""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from valuescope.files import sha256_file
from valuescope.models.gguf_cache import (
    cached_dir_for,
    ensure_safetensors_cache,
    read_cache_info,
)
from valuescope.models.registry import REGISTRY, RegistryEntry
from valuescope.models.tiny import build_tiny


class ModelNotFoundError(ValueError):
    """Raised for a name that is neither registered, a local path, nor loadable from the Hub."""


@dataclass
class ModelInfo:
    """What the manifest says about a model."""

    name: str
    source: str
    family: str = ""
    dtype: str = ""
    device: str = ""
    instruct: bool = False
    quantization: str | None = None
    """For GGUF sources: the quantization the weights were dequantized from."""
    weights_sha256: str | None = None
    tokenizer: str = ""
    trust_remote_code: bool = False
    """Whether the model's own Python code from its repository was allowed to run."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """float32 on CPU (5x faster than bfloat16 there), bfloat16 on CUDA."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def _unknown_name_error(name: str) -> ModelNotFoundError:
    close = difflib.get_close_matches(name, list(REGISTRY), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ModelNotFoundError(
        f"model {name!r} is not a registered name, a local directory or .gguf file, nor reachable on the "
        f"Hugging Face Hub{' (HF_HUB_OFFLINE is set)' if _offline() else ''}.{hint} "
        "Run `valuescope models` for the registered names, or pass a path to a local model."
    )


def check_model_name(name: str) -> None:
    """Fail fast, without loading, on a model that cannot be found: a registry name, an existing
    path, or (online, or offline when already in the local Hugging Face cache) a Hub id."""
    if not isinstance(name, str) or not name.strip():
        raise ModelNotFoundError(f"model must be a non-empty name or path, got {name!r}")
    path = Path(name).expanduser()
    if name in REGISTRY or path.exists():
        return
    if path.suffix == ".gguf" or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelNotFoundError(f"model path {path} does not exist; check the path")
    if _offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise _unknown_name_error(name)


def load_parts(
    name_or_path: str,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, ModelInfo]:
    """Load model and tokenizer, placed on ``device`` in ``dtype``, in eval mode."""
    if not isinstance(name_or_path, str | os.PathLike) or not str(name_or_path).strip():
        raise ModelNotFoundError(f"model must be a non-empty name or path, got {name_or_path!r}")
    name = str(name_or_path)
    dev = torch.device(device) if device is not None else default_device()
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype={dtype!r} is not a torch dtype; use e.g. 'float32' or 'bfloat16'")
        dtype = getattr(torch, dtype)
    torch_dtype: torch.dtype = dtype if isinstance(dtype, torch.dtype) else default_dtype(dev)
    info = ModelInfo(name=name, source="", trust_remote_code=bool(trust_remote_code))
    entry = REGISTRY.get(name)
    path = Path(name).expanduser()
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase

    if entry is not None and entry.kind == "tiny":
        model, tokenizer = build_tiny(name)
        info.source = "tiny random (seed 0)"
    elif entry is not None:
        model, tokenizer = _load_gguf_entry(entry, torch_dtype, info)
    elif path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file {path} does not exist; check the path")
        model, tokenizer = _load_local_gguf(path, torch_dtype, info)
    else:
        if not path.exists() and (name.startswith((".", "/", "~")) or name.count("/") > 1):
            raise ModelNotFoundError(f"model directory {path} does not exist; check the path")
        try:
            kwargs: dict[str, Any] = dict(dtype=torch_dtype, trust_remote_code=trust_remote_code)
            if device_map is not None:
                kwargs["device_map"] = device_map
            tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
        except (OSError, ValueError) as e:
            if "trust_remote_code" in str(e):
                raise ModelNotFoundError(
                    f"{name} needs custom code; pass trust_remote_code=True if you trust its authors"
                ) from e
            raise _unknown_name_error(name) from e
        info.source = str(path.resolve()) if path.exists() else f"hf:{name}"
        info.instruct = tokenizer.chat_template is not None

    model = model.to(dtype=torch_dtype)  # type: ignore[call-arg]
    if device_map is None:
        model = model.to(dev)  # type: ignore[arg-type]
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    info.family = str(getattr(model.config, "model_type", type(model).__name__))
    info.dtype = str(torch_dtype).removeprefix("torch.")
    info.device = str(next(model.parameters()).device)
    info.tokenizer = type(tokenizer).__name__
    return model, tokenizer, info


def prepare_weights(name: str) -> None:
    """Dequantize a registry model's GGUF into its safetensors cache now if it is not there yet, so
    that several processes loading it later only read the cache (nothing to do for other models)."""
    entry = REGISTRY.get(name)
    if entry is None or entry.kind == "tiny" or read_cache_info(cached_dir_for(entry.cache_key)) is not None:
        return
    assert entry.locate is not None
    ensure_safetensors_cache(entry.locate(), entry.cache_key)


def _from_cache_dir(directory: Path, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
    return model, tokenizer


def _load_gguf_entry(
    entry: RegistryEntry, dtype: torch.dtype, info: ModelInfo
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    directory = cached_dir_for(entry.cache_key)
    cache = read_cache_info(directory)
    if cache is None:
        assert entry.locate is not None
        directory = ensure_safetensors_cache(entry.locate(), entry.cache_key)
        cache = read_cache_info(directory) or {}
    info.source = f"registry:{entry.name} ({cache.get('gguf_file', '')})"
    info.quantization = cache.get("quantization")
    info.weights_sha256 = cache.get("weights_sha256")
    info.instruct = entry.instruct
    return _from_cache_dir(directory, dtype)


def _load_local_gguf(
    path: Path, dtype: torch.dtype, info: ModelInfo
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    digest = sha256_file(path)
    directory = ensure_safetensors_cache(path, f"gguf-{path.stem[:40]}-{digest[:16]}")
    cache = read_cache_info(directory) or {}
    info.source = str(path.resolve())
    info.quantization = cache.get("quantization")
    info.weights_sha256 = cache.get("weights_sha256")
    model, tokenizer = _from_cache_dir(directory, dtype)
    info.instruct = tokenizer.chat_template is not None
    return model, tokenizer


def state_dict_sha256(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer, by name, in the model's current dtype."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        t = tensor.detach().contiguous().cpu()
        h.update(str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
