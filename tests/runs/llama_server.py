"""llama-cpp-python's OpenAI-compatible server on loopback, for tests of the API backend."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

LLAMA_CPP_VERSION = "0.3.36"
INSTALL = (
    f"CMAKE_ARGS=-DGGML_NATIVE=OFF .venv/bin/pip install 'llama-cpp-python[server]=={LLAMA_CPP_VERSION}'"
)
REQUIRE_ENV = "VALUESCOPE_REQUIRE_LLAMA_SERVER"
STARTUP_DEADLINE_S = 180.0
_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def require_llama_server() -> None:
    """Skip (or fail, with ``VALUESCOPE_REQUIRE_LLAMA_SERVER=1``) when llama-cpp-python[server] is missing."""
    missing = [m for m in _MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return
    what = f"llama-cpp-python[server] is not installed (missing {', '.join(missing)})"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{what} and {REQUIRE_ENV}=1; install it with: {INSTALL}")
    pytest.skip(f"{what}; `make test` installs it in its setup step: {INSTALL}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: Path, n: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


@contextmanager
def llama_server(model: Path, log_dir: Path, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve ``model`` on a free loopback port; yields the base URL (``.../v1``) and stops the server."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--logits_all", "true", "--verbose", "false", *extra,
    ]  # fmt: skip
    log = log_dir / f"llama-server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"llama server for {model.name} exited with {proc.returncode}:\n{_tail(log)}"
                )
            try:
                if httpx.get(f"{base}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"llama server for {model.name} not up after {STARTUP_DEADLINE_S}s:\n{_tail(log)}"
                )
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dequantized_gguf(src: Path, dst: Path) -> Path:
    """Write ``src`` with every tensor dequantized to float32: llama.cpp then computes in float32 on the
    very weights the in-process loader dequantizes, so ratings must agree to rounding."""
    import gguf
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(str(src))
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(str(dst), arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_uint32(key, int(gguf.LlamaFileType.ALL_F32))
        elif field.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, field.contents())
        else:
            writer.add_key_value(key, field.contents(), field.types[0])
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float32)
        writer.add_tensor(t.name, values.reshape([int(d) for d in reversed(t.shape)]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
