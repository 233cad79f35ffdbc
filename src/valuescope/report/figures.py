"""Figures embedded in the page: a study's SVG or PNG files read from inside the run directory (size-capped,
checked by their magic bytes) and inlined as ``data:`` images with an escaped caption.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from valuescope.report.formatting import esc, text
from valuescope.report.run_folder import RunFolder, file_inside, model_label

MAX_IMAGE_BYTES = 16 * 1024 * 1024


def _image_uri(run: RunFolder, entry: Mapping[str, Any]) -> str | None:
    """The figure as a ``data:`` URI: the SVG when it looks like one, else the PNG."""
    for key in ("file", "png"):
        path = file_inside(run.root, entry.get(key))
        if path is None or path.stat().st_size > MAX_IMAGE_BYTES:
            continue
        data = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix == ".svg" and b"<svg" in data[:4096]:
            mime = "image/svg+xml"
        elif suffix == ".png" and data.startswith(b"\x89PNG\r\n\x1a\n"):
            mime = "image/png"
        else:
            continue
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return None


def figure_html(uri: str, title: str, caption: str, extra: str = "") -> str:
    """A ``<figure>`` of the image at ``uri`` with an escaped title, caption and file line."""
    cap = f"<strong>{esc(title)}</strong>" + (f" — {esc(caption)}" if caption else "")
    if extra:
        cap += f'<br><span class="file">{esc(extra)}</span>'
    return f'<figure><img src="{esc(uri)}" alt="{esc(title)}"><figcaption>{cap}</figcaption></figure>'


def figure_block(run: RunFolder, entry: Mapping[str, Any]) -> str:
    """One declared figure embedded as a ``data:`` image, or a notice when it is missing or not an image."""
    name = text(entry.get("file")) or text(entry.get("png"))
    title = text(entry.get("title")) or text(entry.get("name")) or name or "untitled figure"
    uri = _image_uri(run, entry)
    if uri is None:
        return (
            f'<p class="notice">Figure “{esc(title)}” ({esc(name)}) is missing or not an SVG/PNG image.</p>'
        )
    model = text(entry.get("model"))
    extra = f"{model_label(model)} · {name}" if model else name
    return figure_html(uri, title, text(entry.get("caption")), extra)
