"""Where external datasets are found (config or ``VALUESCOPE_DATA``) and which files a run read.

The data folder is laid out like the project's shared data: ``valuebench/``, ``valueportrait/``,
``flames/`` and, when a user has it, ``social-chem-101/``. Every file a study opens through
:meth:`DataSources.open` is hashed into the run's manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

from valuescope.files import sha256_file

DATA_ENV = "VALUESCOPE_DATA"


class DataSources:
    """A data root (optional) plus a record of the files read and their SHA-256."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            env = os.environ.get(DATA_ENV)
            root = env if env else None
        self.root = Path(root).expanduser() if root is not None else None
        if self.root is not None and not self.root.is_dir():
            raise FileNotFoundError(
                f"data folder {self.root} does not exist; fix --data / the config's `data:` or {DATA_ENV}"
            )
        self.read: dict[str, str] = {}

    def find(self, relative: str) -> Path | None:
        """``root/relative`` if a data root is set and the file exists, else None (optional data)."""
        if self.root is None:
            return None
        path = self.root / relative
        return path if path.exists() else None

    def use(self, path: str | Path) -> Path:
        """Record ``path`` (a file the caller is about to read) with its hash, and return it."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"data file {p} does not exist")
        self.read[str(p.resolve())] = sha256_file(p)
        return p

    def describe(self) -> str:
        return str(self.root) if self.root is not None else f"none (set {DATA_ENV} or --data)"
