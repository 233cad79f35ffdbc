"""Display text for untrusted run data: HTML escaping (:func:`esc`), number and p-value formatting,
clipping of long fields, and lenient reading of JSON values that may have the wrong type.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_FIELD_CHARS = 4000


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped for element content and quoted attributes alike."""
    return html.escape(value if isinstance(value, str) else text(value), quote=True)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` as a dict with string keys, or an empty dict when it is not a mapping."""
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` as a list, or an empty list when it is not a list or tuple."""
    return list(value) if isinstance(value, list | tuple) else []


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None for booleans, non-numbers, NaN and infinities."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def fmt_num(value: Any) -> str:
    """Numbers to 4 significant digits (integers whole, large values without exponent)."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if not isinstance(value, numbers.Real):
        return text(value)
    number = float(value)
    if math.isnan(number):
        return ""
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if 1e4 <= abs(number) < 1e15:
        return f"{number:.0f}"
    return f"{number:.4g}"


def fmt_p(value: Any) -> str:
    """``p<0.001`` or ``p=0.003`` style; empty for a missing p."""
    p = finite_number(value)
    if p is None:
        return ""
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def fmt_seconds(value: float) -> str:
    """A duration in seconds, minutes or hours, whichever reads best."""
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def text(value: Any) -> str:
    """Any JSON value as display text (unescaped): strings as-is, numbers formatted, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Number | np.bool_):
        return fmt_num(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def clip(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``value`` cut to ``limit`` characters, saying how many were left out."""
    return value if len(value) <= limit else value[:limit] + f"\n… ({len(value) - limit} more characters)"
