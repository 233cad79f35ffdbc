"""valuescope: measure, compare and edit the values that language models hold.

The top-level names load on first use, so ``import valuescope`` (and the command
line's ``--help``) does not import torch and transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from valuescope.version import __version__

if TYPE_CHECKING:
    from valuescope.language_model import LanguageModel, load_model
    from valuescope.runs.execute import run_study

__all__ = ["LanguageModel", "__version__", "load_model", "run_study"]

_LAZY = {
    "LanguageModel": "valuescope.language_model",
    "load_model": "valuescope.language_model",
    "run_study": "valuescope.runs.execute",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'valuescope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
