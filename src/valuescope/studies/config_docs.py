"""A study config documented from its own source: every field's type, default, value per profile and
description, as rows and as text for a terminal (``valuescope studies --details``).

Each field of a :class:`~valuescope.studies.protocol.StudyConfig` carries a docstring right after it,
which pydantic keeps as the field's ``description`` (``use_attribute_docstrings``), so the documentation
of an option lives in one place, next to its declaration. The value per profile is the one
:meth:`StudyConfig.for_profile` resolves, so what is shown is what a run gets.
"""

from __future__ import annotations

import textwrap
import types
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from valuescope.studies.protocol import PROFILES, Profile, StudyConfig

DESCRIPTION_INDENT = 6
"""Columns before a field's description; its name line starts at 2."""


@dataclass(frozen=True)
class FieldDoc:
    """One config field as documented: name, type, default, resolved value per profile, description."""

    name: str
    type: str
    default: Any
    per_profile: dict[Profile, Any]
    description: str

    def profiles_text(self) -> str:
        """``quick 16, demo 48, full 48``, or ``every profile`` when all equal the default."""
        if all(v == self.default for v in self.per_profile.values()):
            return "every profile"
        return ", ".join(f"{p} {v!r}" for p, v in self.per_profile.items())


_BOUNDS = {"ge": (">=", "["), "gt": (">", "("), "le": ("<=", "]"), "lt": ("<", ")")}
"""Pydantic's numeric constraints: their symbol alone, and their bracket in an interval."""


def _bounds(metadata: list[Any]) -> str:
    """`` >= 4``, `` in [2, 80]`` or `` in (0, 1)`` from the ``ge/gt/le/lt`` constraints in ``metadata``."""
    found = {k: getattr(m, k) for m in metadata for k in _BOUNDS if getattr(m, k, None) is not None}
    low = [k for k in ("ge", "gt") if k in found]
    high = [k for k in ("le", "lt") if k in found]
    if low and high:
        (lo,), (hi,) = low, high
        return f" in {_BOUNDS[lo][1]}{found[lo]}, {found[hi]}{_BOUNDS[hi][1]}"
    return "".join(f" {_BOUNDS[k][0]} {found[k]}" for k in low + high)


def type_label(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A short, readable type: ``int >= 4``, ``'middle' | 'best' | int``, ``str | None``."""
    origin = get_origin(annotation)
    if origin is Annotated:  # inside a union pydantic leaves Field(...) unpacked: take its constraints
        base, *extra = get_args(annotation)
        flat = [c for e in extra for c in getattr(e, "metadata", [e])]
        return type_label(base, [*flat, *(metadata or [])])
    if origin is Literal:
        label = " | ".join(repr(a) for a in get_args(annotation))
    elif origin in (Union, types.UnionType):
        label = " | ".join(type_label(a) for a in get_args(annotation))
    elif annotation is type(None):
        label = "None"
    else:
        label = getattr(annotation, "__name__", str(annotation))
    return label + _bounds(list(metadata or []))


def field_docs(config: type[StudyConfig]) -> list[FieldDoc]:
    """Every field of ``config`` in declaration order (base fields first)."""
    resolved = {p: config.for_profile(p) for p in PROFILES}
    return [
        FieldDoc(
            name=name,
            type=type_label(info.annotation, list(info.metadata)),
            default=info.default,
            per_profile={p: getattr(resolved[p], name) for p in PROFILES},
            description=" ".join((info.description or "").split()),
        )
        for name, info in config.model_fields.items()
    ]


def undocumented(config: type[StudyConfig]) -> list[str]:
    """Names of ``config``'s fields that carry no description (a docstring right after the field)."""
    return [name for name, info in config.model_fields.items() if not (info.description or "").strip()]


def render_fields(config: type[StudyConfig], width: int = 100) -> list[str]:
    """Terminal lines, per field: ``name: type = default (value per profile)``, then its description
    indented beneath (reST's double backquotes as single ones), both wrapped at ``width`` columns."""
    inner = " " * DESCRIPTION_INDENT
    wrap = partial(textwrap.wrap, width=width, subsequent_indent=inner, break_on_hyphens=False)
    lines: list[str] = []
    for doc in field_docs(config):
        lines += wrap(
            f"{doc.name}: {doc.type} = {doc.default!r} ({doc.profiles_text()})", initial_indent="  "
        )
        lines += wrap(doc.description.replace("``", "`") or "(no description)", initial_indent=inner)
    return lines
