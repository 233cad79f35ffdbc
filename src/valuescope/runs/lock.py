"""One writer per run folder: an exclusive, non-blocking lock on ``--out``.

The lock is ``<out>/.valuescope.lock``, held with ``flock`` (released by the kernel when the holder
exits, even on SIGKILL, so a stale file never blocks a later run). The holder writes its PID, host
and start time into the file, and a refused run names them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from valuescope.runs.config import ConfigError

LOCK_FILE = ".valuescope.lock"
"""Name of the lock file inside a run folder (ignored when a folder's contents are checked)."""
RUN_FILE = "run.json"
"""The record that makes a folder a run folder."""


def lock_path(out: str | Path) -> Path:
    return Path(out) / LOCK_FILE


def _holder(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        data = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (it has not yet written its PID)"
    pid, host = holder.get("pid", "?"), holder.get("host", "?")
    since = f", since {holder['started']}" if holder.get("started") else ""
    command = f" ({holder['command']})" if holder.get("command") else ""
    return f"process {pid} on host {host}{since}{command}"


@contextmanager
def run_lock(out: str | Path, command: str = "") -> Iterator[Path]:
    """Hold the run folder ``out`` exclusively for the ``with`` block (the folder is created).

    Raises :class:`ConfigError` at once, naming the holder's PID and host, when another process
    holds it. Re-entering from the process that holds it is refused the same way. A non-empty folder
    that holds no run is refused without writing anything into it.
    """
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is a file; give a folder")
    known = (root / LOCK_FILE).exists() or (root / RUN_FILE).exists()
    if root.is_dir() and not known and any(root.iterdir()):
        raise ConfigError(f"--out {root} is not empty and holds no valuescope run; choose another folder")
    root.mkdir(parents=True, exist_ok=True)
    path = lock_path(root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    handle = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"--out {root} is in use by {_describe(_holder(handle))}; wait for it to finish, "
                "stop it, or choose another --out"
            ) from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": command,
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()  # closing the descriptor releases the flock
