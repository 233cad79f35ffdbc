"""The neutral reference sentences shipped with the package: the text every edit's damage (KL,
perplexity) is measured on, and the text residual norms and means are taken from."""

from __future__ import annotations

from importlib.resources import files


def reference_texts() -> list[str]:
    """The neutral reference sentences, one per non-empty line of ``data/neutral_reference.txt``."""
    text = files("valuescope").joinpath("data/neutral_reference.txt").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]
