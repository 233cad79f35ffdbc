"""The on-disk response cache of an API model: one JSON file per request, keyed by the SHA-256 of
the canonical request (redacted base URL, endpoint, body), written atomically.

Only responses with a completion's shape are kept, and an entry that cannot be read, or that does
not have that shape, counts as a miss, so it is fetched again and overwritten. No key is ever part
of an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from valuescope.models.gguf_cache import cache_root
from valuescope.runs.backends.openai.protocol import shape_problem
from valuescope.runs.backends.openai.spec import ApiSpec
from valuescope.tensors import remove_stale_temps


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class ResponseCache:
    """The responses of one ``ApiSpec``'s server, under ``spec.cache_dir`` or ``cache_root() / "api"``."""

    def __init__(self, spec: ApiSpec) -> None:
        self.spec = spec

    def path(self, endpoint: str, body: dict[str, Any]) -> Path:
        """The file that holds the response to ``body`` at ``endpoint``."""
        canonical = json.dumps(
            {"base_url": self.spec.shown_url, "endpoint": endpoint, "body": body},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        root = self.spec.cache_dir if self.spec.cache_dir is not None else cache_root() / "api"
        return root / key[:2] / f"{key}.json"

    def get(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The cached completion for ``body`` at ``endpoint``, or None (none kept, or unreadable)."""
        path = self.path(endpoint, body)
        if not path.exists():
            return None
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            response: dict[str, Any] = cached["response"]
            if isinstance(response, dict) and not shape_problem(response, endpoint):
                return response
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable entry: fetch again and overwrite it
        return None

    def put(self, endpoint: str, body: dict[str, Any], response: dict[str, Any]) -> None:
        """Keep ``response`` (a completion) to ``body``, with the request beside it."""
        record = {
            "base_url": self.spec.shown_url,
            "endpoint": endpoint,
            "request": body,
            "response": response,
        }
        _write_json_atomic(self.path(endpoint, body), record)
