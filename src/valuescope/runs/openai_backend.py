"""Models behind an OpenAI-compatible HTTP API, with the ``rate``/``generate``/``describe`` surface of
an in-process ``LanguageModel``.

``ApiSpec`` says where the server is and how to talk to it; ``ApiModel`` sends the requests (httpx,
a thread pool of ``max_concurrency``), retries connection errors, timeouts, 429 and 5xx with
exponential backoff and jitter (``Retry-After`` wins when the server sends it), and keeps every
successful response that has a completion's shape in an on-disk JSON cache keyed by the SHA-256 of
the canonical request, so a rerun makes no HTTP calls. The API key is read from the environment
variable ``api_key_env`` at each request; it is never stored, cached, logged, described or put into
an error message, and neither are credentials in ``base_url`` (``user:password@`` shows as ``***@``).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import ipaddress
import json
import math
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

from valuescope.models.gguf_cache import cache_root
from valuescope.readout.generation import _check_int, _check_sampling, _check_stop
from valuescope.readout.generation import _check_prompts as _check_generation_prompts
from valuescope.readout.ratings import _check_options, _check_prompts, _option_values, _reverse_flags
from valuescope.tensors import remove_stale_temps

CHECK_TIMEOUT_S = 5.0
"""``check()`` gives up on a silent server after this long (or ``timeout_s`` if shorter)."""
MAX_BACKOFF_S = 60.0
"""Longest wait between two attempts, ``Retry-After`` included."""
SAMPLE_MAX_TOKENS = 16
"""Length of each sampled answer when the server gives no log-probabilities."""
PROGRESS_MIN_REQUESTS = 64
_SPACE_MARKERS = ("▁", "Ġ")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_PREFIXES = re.compile(r"^(?:(?:sk|pk|rk|hf|ghp|gho|ghs|github_pat|xox[abprs]|glpat)[-_]|AKIA|AIza)")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def looks_like_key(value: str) -> bool:
    """Whether ``value`` looks like an API key rather than the name of a variable holding one.

    Known key prefixes (``sk-``, ``hf_``, ``ghp_``, ``AKIA``...) followed by a long tail, or a long
    string that mixes digits and letters without the underscores that variable names use.
    """
    has_digit = any(c.isdigit() for c in value)
    mixed_case = any(c.islower() for c in value) and any(c.isupper() for c in value)
    if _KEY_PREFIXES.match(value) and len(value) >= 20 and (has_digit or mixed_case):
        return True
    if len(value) < 24 or not has_digit:
        return False
    words = [w for w in value.split("_") if w]
    return len(words) <= 1 or max(map(len, words)) >= 20


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (what may be written to disk or shown)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def insecure_url(url: str) -> bool:
    """Whether ``url`` is plain ``http://`` to another machine (keys and prompts travel unencrypted)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


class ApiError(RuntimeError):
    """The server refused or failed a request; the message carries its reason (any key redacted)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiSpec(BaseModel):
    """Where an API model lives and how to call it (the ``api_models`` entries of a run config)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str
    """The name users pass as ``--model``."""
    base_url: str
    """Up to and including the version, e.g. ``http://127.0.0.1:8080/v1``."""
    model: str
    """The model name the server expects in each request."""
    api_key_env: str | None = None
    """NAME of the environment variable that holds the key (the key itself is never stored)."""
    chat: bool = True
    """Use ``/chat/completions`` (the server applies the chat template) rather than ``/completions``."""
    max_concurrency: int = Field(default=4, ge=1)
    max_retries: int = Field(default=5, ge=0)
    timeout_s: float = Field(default=60.0, gt=0)
    cache_dir: Path | None = None
    """Response cache; default ``cache_root() / "api"``."""
    cache: bool = True
    """Whether to read and write the response cache."""
    top_logprobs: int = Field(default=20, ge=1)
    n_samples: int = Field(default=20, ge=1)
    """Answers sampled per prompt when the server returns no log-probabilities."""
    backoff_s: float = Field(default=0.5, ge=0)
    """First retry delay; it doubles with each attempt (plus jitter)."""

    @field_validator("name", "model")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a non-empty string")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. http://127.0.0.1:8080/v1")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not _ENV_NAME.match(value) or looks_like_key(value)):
            raise ValueError(
                "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key; "
                "export the key in that variable and give its name"
            )
        return value

    @property
    def shown_url(self) -> str:
        """``base_url`` with any credentials redacted: the form that is logged, cached and described."""
        return redact_url(self.base_url)

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (self.shown_url if key == "base_url" else value)


# ----------------------------------------------------------------------------- helpers
def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _server_message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return _one_line(resp.text) or resp.reason_phrase
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            err = err.get("message", err)
        return _one_line(str(err))
    return _one_line(str(data))


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


def _normalise(token: str) -> str:
    """The token's text with a leading SentencePiece/BPE space marker written as a space."""
    for marker in _SPACE_MARKERS:
        if token.startswith(marker):
            return " " + token[len(marker) :]
    return token


def _first_top_logprobs(data: dict[str, Any], chat: bool) -> list[tuple[str, float]] | None:
    """(token, logprob) of the first generated position, or None when the server sent none."""
    choice = _choice(data)
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    if chat:
        content = lp.get("content")
        if not content or not isinstance(content[0], dict):
            return None
        top = content[0].get("top_logprobs")
        if not top:
            return None
        return [(str(t["token"]), float(t["logprob"])) for t in top if t.get("logprob") is not None]
    tops = lp.get("top_logprobs")
    if not tops or not isinstance(tops[0], dict) or not tops[0]:
        return None
    return [(str(t), float(v)) for t, v in tops[0].items() if v is not None]


def _choice(data: dict[str, Any]) -> dict[str, Any]:
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise ApiError(f"the server's response has no choices: {_one_line(json.dumps(data))}") from None
    if not isinstance(choice, dict):
        raise ApiError(f"the server's response has a malformed choice: {_one_line(json.dumps(data))}")
    return choice


def _shape_problem(data: dict[str, Any], endpoint: str) -> str:
    """What makes a 2xx body not a completion ("" when it is one): ``choices`` must be a non-empty
    list of objects with a ``message`` object (chat) or a ``text`` string (completions)."""
    choices = data.get("choices")
    problem = ""
    if not isinstance(choices, list) or not choices:
        problem = "no choices"
    elif not all(isinstance(c, dict) for c in choices):
        problem = "a choice that is not an object"
    elif endpoint == "/chat/completions" and not all(isinstance(c.get("message"), dict) for c in choices):
        problem = "a choice without a message object"
    elif endpoint == "/completions" and not all(isinstance(c.get("text"), str) for c in choices):
        problem = "a choice without a text string"
    return problem


def _text(data: dict[str, Any], chat: bool) -> str:
    choice = _choice(data)
    if chat:
        message = choice.get("message") or {}
        return str(message.get("content") or "")
    return str(choice.get("text") or "")


def _first_option(answer: str, options: list[str]) -> int | None:
    """Index of the option found earliest in ``answer`` (the longer one at a tie), or None."""
    best: tuple[int, int] | None = None
    for o, option in enumerate(options):
        at = answer.find(option)
        if at < 0:
            continue
        if best is None or at < best[0] or (at == best[0] and len(option) > len(options[best[1]])):
            best = (at, o)
    return None if best is None else best[1]


# ----------------------------------------------------------------------------- the model
class ApiModel:
    """A model behind an OpenAI-compatible server, rated and sampled like a ``LanguageModel``."""

    def __init__(self, spec: ApiSpec, *, transport: httpx.BaseTransport | None = None) -> None:
        self.spec = spec
        self.n_requests = 0
        """HTTP requests sent so far (retries and ``check()`` included; cache hits excluded)."""
        self._transport = transport
        self._client_: httpx.Client | None = None
        self._lock = threading.Lock()
        self._models: dict[str, Any] | None = None

    # ----------------------------------------------------------------- description
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def instruct(self) -> bool:
        """Whether prompts go through the server's chat template by default."""
        return self.spec.chat

    def __repr__(self) -> str:
        return f"ApiModel({self.name!r}, base_url={self.spec.shown_url!r}, model={self.spec.model!r})"

    def describe(self) -> dict[str, Any]:
        """Manifest-facing description: the spec (never the key) and what ``/models`` reports."""
        return {
            "name": self.name,
            "source": f"api:{self.spec.shown_url}",
            "family": "api",
            "base_url": self.spec.shown_url,
            "server_model": self.spec.model,
            "chat": self.spec.chat,
            "instruct": self.instruct,
            "weights_sha256": None,
            "quantization": None,
            "tokenizer": None,
            "server": self._server_entry(),
        }

    def _server_entry(self) -> dict[str, Any] | None:
        if self._models is None:
            try:
                self.check()
            except (ConnectionError, ApiError):
                return None
        data = (self._models or {}).get("data")
        if not isinstance(data, list):
            return None
        entries = [d for d in data if isinstance(d, dict)]
        match = [d for d in entries if d.get("id") == self.spec.model]
        if not match and len(entries) == 1:  # single-model servers (llama.cpp) ignore the name
            match = entries
        if not match:
            return None
        return {k: self._redact(str(match[0][k])) for k in ("id", "owned_by") if k in match[0]}

    # ----------------------------------------------------------------- HTTP
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

    def __enter__(self) -> ApiModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _key(self) -> str | None:
        env = self.spec.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _headers(self) -> dict[str, str]:
        env = self.spec.api_key_env
        if env is None:
            return {}
        key = self._key()
        if key is None:
            raise ValueError(f"API model {self.name!r}: environment variable {env} is not set; export it")
        return {"Authorization": f"Bearer {key}"}

    def _redact(self, text: str) -> str:
        key = self._key()
        text = text.replace(key, "***") if key else text
        userinfo = urlsplit(self.spec.base_url).netloc.rpartition("@")[0]
        return text.replace(userinfo + "@", "***@") if userinfo else text

    def _count(self) -> None:
        with self._lock:
            self.n_requests += 1

    def check(self) -> dict[str, Any]:
        """GET ``/models`` once; raise a one-line ``ConnectionError`` if the server cannot be reached.

        Returns the listing (``{}`` if the server has no ``/models``); ``describe()`` reports from it.
        """
        url = f"{self.spec.base_url}/models"
        headers = self._headers()
        try:
            self._count()
            resp = self._client().get(url, headers=headers, timeout=min(self.spec.timeout_s, CHECK_TIMEOUT_S))
        except httpx.TransportError as e:
            reason = self._redact(_one_line(f"{type(e).__name__}: {e}", 160))
            raise ConnectionError(
                f"cannot reach the API server of {self.name!r} at {self.spec.shown_url} ({reason}); "
                "start the server there or fix base_url in the api_models config"
            ) from None
        if resp.status_code in (401, 403):
            hint = (
                f"check the key in ${self.spec.api_key_env}" if self.spec.api_key_env else "set api_key_env"
            )
            raise ApiError(
                f"{self.spec.shown_url} refused the key ({resp.status_code}: "
                f"{self._redact(_server_message(resp))}); {hint}",
                resp.status_code,
            )
        models: dict[str, Any] = {}
        if resp.status_code < 400:
            with contextlib.suppress(ValueError):
                body = resp.json()
                models = body if isinstance(body, dict) else {}
        self._models = models
        return models

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_BACKOFF_S)
        delay = min(self.spec.backoff_s * 2**attempt, MAX_BACKOFF_S)
        return delay / 2 + random.uniform(0, delay / 2)

    def _send(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
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
                failure = _one_line(f"{type(e).__name__}: {e}", 160)
            else:
                status = resp.status_code
                if status < 400:
                    try:
                        data = resp.json()
                    except ValueError:
                        raise ApiError(
                            f"{shown} answered {status} with a body that is not JSON: "
                            f"{self._redact(_one_line(resp.text, 160))}",
                            status,
                        ) from None
                    if not isinstance(data, dict):
                        raise ApiError(f"{shown} answered {status} with JSON that is not an object", status)
                    return data
                message = self._redact(_server_message(resp))
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
                f"cannot reach the API server of {self.name!r} at {self.spec.shown_url} after {tries} "
                f"attempts ({self._redact(failure)}); check that the server is running"
            )
        raise ApiError(f"{shown} failed {tries} times; last: {self._redact(failure)}")

    # ----------------------------------------------------------------- cache
    def _cache_path(self, endpoint: str, body: dict[str, Any]) -> Path:
        canonical = json.dumps(
            {"base_url": self.spec.shown_url, "endpoint": endpoint, "body": body},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        root = self.spec.cache_dir if self.spec.cache_dir is not None else cache_root() / "api"
        return root / key[:2] / f"{key}.json"

    def _checked_send(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """``_send``, refusing a 2xx body that is not a completion (it is then never cached)."""
        data = self._send(endpoint, body)
        problem = _shape_problem(data, endpoint)
        if problem:
            raise ApiError(
                f"{self.spec.shown_url}{endpoint} answered with {problem}, so it is not an OpenAI-compatible "
                f"completion (not cached): {self._redact(_one_line(json.dumps(data), 200))}"
            )
        return data

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """The response to ``body``, from the cache when it holds it."""
        if not self.spec.cache:
            return self._checked_send(endpoint, body)
        path = self._cache_path(endpoint, body)
        if path.exists():
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))
                response: dict[str, Any] = cached["response"]
                if isinstance(response, dict) and not _shape_problem(response, endpoint):
                    return response
            except (OSError, ValueError, KeyError, TypeError):
                pass  # unreadable entry: fetch again and overwrite it
        data = self._checked_send(endpoint, body)
        record = {"base_url": self.spec.shown_url, "endpoint": endpoint, "request": body, "response": data}
        _write_json_atomic(path, record)
        return data

    def _post_many(
        self, requests: Sequence[tuple[str, dict[str, Any]]], progress: bool | None, desc: str
    ) -> list[dict[str, Any]]:
        """Responses in input order, ``max_concurrency`` at a time; identical requests are sent once."""
        unique: dict[str, tuple[str, dict[str, Any]]] = {}
        keys = []
        for endpoint, body in requests:
            key = endpoint + "\0" + json.dumps(body, sort_keys=True)
            unique.setdefault(key, (endpoint, body))
            keys.append(key)
        show = progress if progress is not None else len(unique) >= PROGRESS_MIN_REQUESTS
        results: dict[str, dict[str, Any]] = {}
        workers = min(self.spec.max_concurrency, len(unique))
        if workers <= 1:
            for key, (endpoint, body) in tqdm(unique.items(), desc=desc, disable=not show, leave=False):
                results[key] = self._post(endpoint, body)
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="valuescope-api")
            try:
                futures = {key: pool.submit(self._post, e, b) for key, (e, b) in unique.items()}
                for key, future in tqdm(futures.items(), desc=desc, disable=not show, leave=False):
                    results[key] = future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        return [results[key] for key in keys]

    # ----------------------------------------------------------------- requests
    def _use_chat(self, chat: bool | None, system: str | None) -> bool:
        if chat is not None and not isinstance(chat, bool):
            raise TypeError(f"chat={chat!r}: must be True, False or None (None = the spec's chat setting)")
        use_chat = self.spec.chat if chat is None else chat
        if system is not None and not isinstance(system, str):
            raise TypeError(f"system must be a string or None, got {type(system).__name__}")
        if system is not None and not use_chat:
            raise ValueError("system= needs the chat endpoint; pass chat=True or drop system")
        return use_chat

    def _request(self, text: str, use_chat: bool, system: str | None, **params: Any) -> tuple[str, dict]:
        if use_chat:
            messages = [{"role": "user", "content": text}]
            if system is not None:
                messages.insert(0, {"role": "system", "content": system})
            return "/chat/completions", {"model": self.spec.model, "messages": messages, **params}
        return "/completions", {"model": self.spec.model, "prompt": text, **params}

    def _logprob_request(self, text: str, use_chat: bool, system: str | None) -> tuple[str, dict]:
        k = self.spec.top_logprobs
        extra: dict[str, Any] = {"logprobs": True, "top_logprobs": k} if use_chat else {"logprobs": k}
        return self._request(text, use_chat, system, max_tokens=1, temperature=0.0, **extra)

    # ----------------------------------------------------------------- readouts
    def rate(
        self,
        prompts: Sequence[str],
        options: Sequence[str],
        *,
        sep: str | None = None,
        values: Sequence[float] | None = None,
        reverse: bool | Sequence[bool] = False,
        chat: bool | None = None,
        system: str | None = None,
        n_samples: int | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Rate each prompt on ``options`` from the server's next-token log-probabilities.

        Columns and ``values``/``reverse`` as in ``readout.ratings.rate``: ``prompt``, ``p_<option>``,
        ``mass``, ``expected``, ``argmax``, ``reversed``; plus ``method`` ("logprobs" or "sampled"),
        ``n_missing_options`` and ``n_samples``. ``chat`` None uses the spec's endpoint; ``system``
        adds a system message (chat only). ``batch_size`` is accepted for compatibility and ignored.

        One request per prompt asks for one token at temperature 0 with the top ``top_logprobs``
        alternatives. On the chat endpoint an option matches a returned token after stripping a
        leading space ("▁", "Ġ"); on ``/completions`` the token must spell ``sep + option`` (``sep``
        default " "), and when the bare separator is its own likelier token (SentencePiece digits)
        a second request continues ``prompt + sep`` and adds P(sep) x P(option | prompt + sep).
        Duplicate tokens are summed. The chat endpoint never sees ``sep`` (the server ends the prompt
        with the assistant header).

        Limits: only the top ``top_logprobs`` tokens are visible, so an option outside them gets
        probability 0 and is counted in ``n_missing_options`` (``mass`` is then a lower bound), and
        an option must be one token on the server to be seen at all. A row whose options are all
        missing has NaN probabilities. If the server returns no log-probabilities the row falls back
        to ``n_samples`` (default ``spec.n_samples``) answers at temperature 1 with distinct seeds,
        each read as the first option string it contains: an empirical distribution with sampling
        error of order 1/sqrt(n_samples), ``mass`` the share of answers that name an option, and
        ``n_missing_options`` the options never sampled.
        """
        del batch_size
        prompt_list = _check_prompts(prompts)
        opts = _check_options(options)
        vals = _option_values(opts, values)
        flags = np.array(_reverse_flags(reverse, len(prompt_list)), dtype=bool)
        if sep is not None and not isinstance(sep, str):
            raise TypeError(f"sep must be a string, got {type(sep).__name__}")
        use_chat = self._use_chat(chat, system)
        joiner = sep if sep is not None else ("" if use_chat else " ")
        n_draws = _check_int(self.spec.n_samples if n_samples is None else n_samples, "n_samples", 1)

        first = self._post_many(
            [self._logprob_request(p, use_chat, system) for p in prompt_list], progress, "rating"
        )
        n, k = len(prompt_list), len(opts)
        raw = np.zeros((n, k), dtype=np.float64)
        method = ["logprobs"] * n
        draws = [0] * n
        continue_sep: list[tuple[int, float]] = []  # (row, P(bare separator))
        to_sample: list[int] = []
        for row, data in enumerate(first):
            top = _first_top_logprobs(data, use_chat)
            if top is None:
                to_sample.append(row)
                continue
            if use_chat:
                targets = [o.lstrip(" ") for o in opts]
                raw[row] = self._match(top, targets, strip=True)
            else:
                raw[row] = self._match(top, [joiner + o for o in opts], strip=False)
                if joiner:
                    p_sep = sum(math.exp(lp) for t, lp in top if _normalise(t) == joiner)
                    if p_sep > raw[row].sum():
                        continue_sep.append((row, p_sep))
        if continue_sep:
            second = self._post_many(
                [self._logprob_request(prompt_list[r] + joiner, False, None) for r, _ in continue_sep],
                progress,
                "rating",
            )
            for (row, p_sep), data in zip(continue_sep, second, strict=True):
                top = _first_top_logprobs(data, False)
                if top is not None:
                    raw[row] += p_sep * self._match(top, opts, strip=False)
        if to_sample:
            requests = [
                self._request(
                    prompt_list[r], use_chat, system, max_tokens=SAMPLE_MAX_TOKENS, temperature=1.0, seed=j
                )
                for r in to_sample
                for j in range(n_draws)
            ]
            answers = self._post_many(requests, progress, "sampling")
            for i, row in enumerate(to_sample):
                for data in answers[i * n_draws : (i + 1) * n_draws]:
                    o = _first_option(_text(data, use_chat), opts)
                    if o is not None:
                        raw[row, o] += 1.0 / n_draws
                method[row], draws[row] = "sampled", n_draws
        return self._frame(prompt_list, opts, vals, flags, raw, method, draws)

    @staticmethod
    def _match(top: list[tuple[str, float]], targets: list[str], strip: bool) -> np.ndarray:
        """Summed probability of the returned tokens that spell each target."""
        out = np.zeros(len(targets), dtype=np.float64)
        where = {t: i for i, t in enumerate(targets)}
        for token, logprob in top:
            text = _normalise(token)
            i = where.get(text.lstrip(" ") if strip else text)
            if i is not None:
                out[i] += math.exp(logprob)
        return out

    @staticmethod
    def _frame(
        prompts: list[str],
        opts: list[str],
        vals: np.ndarray,
        flags: np.ndarray,
        raw: np.ndarray,
        method: list[str],
        draws: list[int],
    ) -> pd.DataFrame:
        mass = raw.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            probs = np.where(mass[:, None] > 0, raw / mass[:, None], np.nan)
        expected = probs @ vals
        lo, hi = float(vals.min()), float(vals.max())
        expected = np.where(flags, lo + hi - expected, expected)
        frame: dict[str, object] = {"prompt": prompts}
        for o, option in enumerate(opts):
            frame[f"p_{option}"] = probs[:, o]
        frame["mass"] = mass
        frame["expected"] = expected
        frame["argmax"] = [opts[int(np.argmax(r))] if m > 0 else None for r, m in zip(raw, mass, strict=True)]
        frame["reversed"] = flags
        frame["method"] = method
        frame["n_missing_options"] = (raw <= 0).sum(axis=1).astype(np.int64)
        frame["n_samples"] = np.array(draws, dtype=np.int64)
        return pd.DataFrame(frame)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        stop: Sequence[str] | str | None = None,
        chat: bool | None = None,
        system: str | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> list[str]:
        """Continue each prompt on the server; the generated texts in input order.

        Prompt ``i`` is sent with ``seed + i`` (whether a server honours seeds is up to it);
        ``top_k`` > 0 is sent as the non-standard ``top_k`` field that llama.cpp and vLLM accept.
        Text is cut before the first ``stop`` string. ``batch_size`` is ignored.
        """
        del batch_size
        items = _check_generation_prompts(prompts)
        max_new_tokens = _check_int(max_new_tokens, "max_new_tokens", 1)
        sampling = _check_sampling(temperature, top_p, top_k)
        seed = _check_int(seed, "seed", 0)
        stops = _check_stop(stop)
        use_chat = self._use_chat(chat, system)
        params: dict[str, Any] = {
            "max_tokens": max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.top_k > 0:
            params["top_k"] = sampling.top_k
        if stops:
            params["stop"] = stops
        requests = [self._request(p, use_chat, system, seed=seed + i, **params) for i, p in enumerate(items)]
        texts = [_text(d, use_chat) for d in self._post_many(requests, progress, "generating")]
        out = []
        for text in texts:
            cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
            out.append(text[: min(cuts)] if cuts else text)
        return out
