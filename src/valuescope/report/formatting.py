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


def fmt_estimate(value: Any) -> str:
    """A metric's estimate or bound to 3 significant digits, without exponent from 0.001 to 10^5."""
    number = finite_number(value)
    if number is None or isinstance(value, numbers.Integral) or float(number).is_integer():
        return fmt_num(value)
    size = abs(number)
    if size < 1e-3 or size >= 1e5:
        return f"{number:.2g}"
    digits = max(0, 2 - math.floor(math.log10(size)))
    shown = f"{number:.{digits}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


WORDS = {
    "kl": "KL", "auroc": "AUROC", "mtmm": "MTMM", "rsa": "RSA", "sae": "SAE", "ari": "ARI",
    "pvq40": "PVQ40", "r2": "R²", "ppl": "perplexity", "sidefx": "side-effect", "fve": "FVE", "kmo": "KMO",
    "zh": "Chinese", "es": "Spanish", "fr": "French", "ko": "Korean", "en": "English", "n": "number of",
    "distinct2": "Distinct-2", "l0": "L0", "pvq": "PVQ",
}  # fmt: skip
"""Words of metric names shown otherwise in their human label."""


def metric_label(name: str) -> str:
    """A metric name in words: ``sidefx_r2`` -> "Side-effect R²", ``n_responses`` -> "Number of responses"."""
    words = " ".join(WORDS.get(w, w) for w in name.split("_") if w)
    return words[:1].upper() + words[1:] if words else name


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
