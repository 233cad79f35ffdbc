"""The run directory as the report reads it: ``summary.json`` and ``manifest.json`` loaded into a
:class:`RunFolder` (models, studies, failed units, declared outputs), files opened only from inside the run
directory, and unique sanitized anchor ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from valuescope.files import read_json_object
from valuescope.report.formatting import as_dict, as_list, text
from valuescope.stats.metrics import ALL_MODELS

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
FAILED_UNITS = "failed_units"


class AnchorIds:
    """Unique, sanitized anchor ids: ``prefix-slug`` with only ``[a-z0-9-]``."""

    def __init__(self) -> None:
        self._used: set[str] = {"overview", "comparison", "about", "contents", "instruments"}

    def make(self, prefix: str, label: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:48].strip("-") or "x"
        candidate, n = f"{prefix}-{slug}", 2
        while candidate in self._used:
            candidate, n = f"{prefix}-{slug}-{n}", n + 1
        self._used.add(candidate)
        return candidate


def file_inside(root: Path, relative: Any) -> Path | None:
    """The file ``relative`` names inside ``root`` (symlinks resolved), or None if absent or outside."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    path = Path(relative)
    if path.is_absolute():
        return None
    try:
        resolved = (root / path).resolve()
        return resolved if resolved.is_relative_to(root) and resolved.is_file() else None
    except (OSError, RuntimeError, ValueError):
        return None


def load_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a missing, unreadable or non-object file raises with how to fix it."""
    return read_json_object(path, "run `valuescope run` to create the run folder")


@dataclass
class RunFolder:
    """A run directory's summary and manifest, read leniently (missing or mistyped fields read as empty)."""

    root: Path
    summary: dict[str, Any]
    manifest: dict[str, Any]
    ids: AnchorIds = field(default_factory=AnchorIds)

    @property
    def name(self) -> str:
        return self.root.name

    @cached_property
    def models(self) -> list[str]:
        """Model keys, manifest order first, never ``_all``."""
        keys = list(as_dict(self.manifest.get("models")))
        for study in self.summary.values():
            keys.extend(as_dict(study))
        return [k for k in dict.fromkeys(keys) if k != ALL_MODELS]

    @cached_property
    def studies(self) -> list[str]:
        keys = [*as_dict(self.manifest.get("studies")), *self.summary, *as_dict(self.manifest.get("outputs"))]
        return [k for k in dict.fromkeys(keys) if k != FAILED_UNITS]

    @cached_property
    def failed_units(self) -> list[dict[str, Any]]:
        """Units that did not run (``summary.json``'s ``failed_units``), each a dict."""
        entries = as_list(self.summary.get(FAILED_UNITS, self.manifest.get(FAILED_UNITS)))
        return [as_dict(e) for e in entries if isinstance(e, Mapping)]

    def study_failures(self, study: str) -> list[dict[str, Any]]:
        return [e for e in self.failed_units if text(e.get("study")) == study]

    def study_info(self, study: str) -> dict[str, Any]:
        return as_dict(as_dict(self.manifest.get("studies")).get(study))

    def study_summary(self, study: str) -> dict[str, Any]:
        if study == FAILED_UNITS:
            return {}
        return as_dict(self.summary.get(study))

    def outputs(self, study: str, kind: str) -> list[dict[str, Any]]:
        entries = as_list(as_dict(as_dict(self.manifest.get("outputs")).get(study)).get(kind))
        return [as_dict(e) for e in entries if isinstance(e, Mapping)]

    def title(self, study: str) -> str:
        return text(self.study_info(study).get("title")) or study or "(unnamed study)"


def model_label(model: str) -> str:
    """How a model key is shown: the across-models key as ``all models``."""
    return "all models" if model == ALL_MODELS else model
