"""The HTTP side of an API model: one ``httpx`` client per model, the key in the headers, retries.

``ApiClient.send`` retries connection errors, timeouts, 429 and 5xx with exponential backoff and
jitter (``Retry-After`` wins when the server sends it) and raises ``ApiError`` at once on any other
refusal. The key is read from the environment at each request and redacted, with any credentials in
``base_url``, from every message this module raises.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from valuescope.runs.backends.openai.spec import ApiSpec

CHECK_TIMEOUT_S = 5.0
"""``list_models()`` gives up on a silent server after this long (or ``timeout_s`` if shorter)."""
MAX_BACKOFF_S = 60.0
"""Longest wait between two attempts, ``Retry-After`` included."""


class ApiError(RuntimeError):
    """The server refused or failed a request; the message carries its reason (any key redacted)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters (for error messages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _server_message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return one_line(resp.text) or resp.reason_phrase
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            err = err.get("message", err)
        return one_line(str(err))
    return one_line(str(data))


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class ApiClient:
    """Sends the requests of one ``ApiSpec``: connections, key, retries and redaction."""

    def __init__(self, spec: ApiSpec, transport: httpx.BaseTransport | None = None) -> None:
        self.spec = spec
        self.n_requests = 0
        """HTTP requests sent so far (retries and ``list_models()`` included)."""
        self._transport = transport
        self._client_: httpx.Client | None = None
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._client_ is None:
                self._client_ = httpx.Client(
                    timeout=self.spec.timeout_s,
                    limits=httpx.Limits(max_connections=self.spec.max_concurrency),
                    transport=self._transport,
                )
            return self._client_

    def close(self) -> None:
        """Close the HTTP connections (a later request opens new ones)."""
        with self._lock:
            if self._client_ is not None:
                self._client_.close()
                self._client_ = None

    def _key(self) -> str | None:
        env = self.spec.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _headers(self) -> dict[str, str]:
        env = self.spec.api_key_env
        if env is None:
            return {}
        key = self._key()
        if key is None:
            raise ValueError(
                f"API model {self.spec.name!r}: environment variable {env} is not set; export it"
            )
        return {"Authorization": f"Bearer {key}"}

    def redact(self, text: str) -> str:
        """``text`` with the key and any credentials of ``base_url`` replaced by ``***``."""
        key = self._key()
        text = text.replace(key, "***") if key else text
        userinfo = urlsplit(self.spec.base_url).netloc.rpartition("@")[0]
        return text.replace(userinfo + "@", "***@") if userinfo else text

    def _count(self) -> None:
        with self._lock:
            self.n_requests += 1

    def list_models(self) -> dict[str, Any]:
        """GET ``/models`` once; raise a one-line ``ConnectionError`` if the server cannot be reached.

        Returns the listing (``{}`` if the server has no ``/models``).
        """
        url = f"{self.spec.base_url}/models"
        headers = self._headers()
        try:
            self._count()
            resp = self._client().get(url, headers=headers, timeout=min(self.spec.timeout_s, CHECK_TIMEOUT_S))
        except httpx.TransportError as e:
            reason = self.redact(one_line(f"{type(e).__name__}: {e}", 160))
            raise ConnectionError(
                f"cannot reach the API server of {self.spec.name!r} at {self.spec.shown_url} ({reason}); "
                "start the server there or fix base_url in the api_models config"
            ) from None
        if resp.status_code in (401, 403):
            hint = (
                f"check the key in ${self.spec.api_key_env}" if self.spec.api_key_env else "set api_key_env"
            )
            raise ApiError(
                f"{self.spec.shown_url} refused the key ({resp.status_code}: "
                f"{self.redact(_server_message(resp))}); {hint}",
                resp.status_code,
            )
        models: dict[str, Any] = {}
        if resp.status_code < 400:
            with contextlib.suppress(ValueError):
                body = resp.json()
                models = body if isinstance(body, dict) else {}
        return models

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_BACKOFF_S)
        delay = min(self.spec.backoff_s * 2**attempt, MAX_BACKOFF_S)
        return delay / 2 + random.uniform(0, delay / 2)

    def send(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; the parsed JSON of a 2xx response."""
        url = f"{self.spec.base_url}{endpoint}"
        shown = f"{self.spec.shown_url}{endpoint}"
        headers = self._headers()
        client = self._client()
        failure = ""
        transport_failed = False
        for attempt in range(self.spec.max_retries + 1):
            retry_after: float | None = None
            try:
                self._count()
                resp = client.post(url, json=body, headers=headers)
            except httpx.TransportError as e:
                transport_failed = True
                failure = one_line(f"{type(e).__name__}: {e}", 160)
            else:
                status = resp.status_code
                if status < 400:
                    try:
                        data = resp.json()
                    except ValueError:
                        raise ApiError(
                            f"{shown} answered {status} with a body that is not JSON: "
                            f"{self.redact(one_line(resp.text, 160))}",
                            status,
                        ) from None
                    if not isinstance(data, dict):
                        raise ApiError(f"{shown} answered {status} with JSON that is not an object", status)
                    return data
                message = self.redact(_server_message(resp))
                if status != 429 and status < 500:
                    raise ApiError(f"{shown} rejected the request ({status}): {message}", status)
                transport_failed = False
                failure = f"{status}: {message}"
                retry_after = _retry_after(resp)
            if attempt < self.spec.max_retries:
                time.sleep(self._delay(attempt, retry_after))
        tries = self.spec.max_retries + 1
        if transport_failed:
            raise ConnectionError(
                f"cannot reach the API server of {self.spec.name!r} at {self.spec.shown_url} after {tries} "
                f"attempts ({self.redact(failure)}); check that the server is running"
            )
        raise ApiError(f"{shown} failed {tries} times; last: {self.redact(failure)}")
