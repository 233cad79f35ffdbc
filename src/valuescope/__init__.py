"""valuescope: measure, compare and edit the values that language models hold."""

from valuescope.language_model import LanguageModel, load_model
from valuescope.runs.execute import run_study
from valuescope.version import __version__

__all__ = ["LanguageModel", "__version__", "load_model", "run_study"]
