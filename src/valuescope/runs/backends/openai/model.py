"""``ApiModel``: a model behind an OpenAI-compatible server, rated and sampled like a ``LanguageModel``.

Requests go out ``max_concurrency`` at a time from a thread pool, identical ones once; every
response with a completion's shape is kept in the on-disk cache (``cache.ResponseCache``), so a
rerun makes no HTTP calls. ``describe()`` reports the spec (never the key) and what ``/models``
says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd
from tqdm.auto import tqdm

from valuescope.readout.arguments import check_int, check_prompts, check_sampling, check_stop
from valuescope.runs.backends.openai.cache import ResponseCache
from valuescope.runs.backends.openai.client import ApiClient, ApiError, one_line
from valuescope.runs.backends.openai.protocol import (
    Request,
    choose_chat,
    completion_request,
    completion_text,
    shape_problem,
)
from valuescope.runs.backends.openai.rating import rate_on_server
from valuescope.runs.backends.openai.spec import ApiSpec

PROGRESS_MIN_REQUESTS = 64


class ApiModel:
    """A model behind an OpenAI-compatible server, rated and sampled like a ``LanguageModel``."""

    def __init__(self, spec: ApiSpec, *, transport: httpx.BaseTransport | None = None) -> None:
        self.spec = spec
        self._http = ApiClient(spec, transport)
        self._cache = ResponseCache(spec)
        self._models: dict[str, Any] | None = None

    @property
    def n_requests(self) -> int:
        """HTTP requests sent so far (retries and ``check()`` included; cache hits excluded)."""
        return self._http.n_requests

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
        return {k: self._http.redact(str(match[0][k])) for k in ("id", "owned_by") if k in match[0]}

    # ----------------------------------------------------------------- connection
    def check(self) -> dict[str, Any]:
        """GET ``/models`` once; raise a one-line ``ConnectionError`` if the server cannot be reached.

        Returns the listing (``{}`` if the server has no ``/models``); ``describe()`` reports from it.
        """
        self._models = self._http.list_models()
        return self._models

    def close(self) -> None:
        """Close the HTTP connections (a later request opens new ones)."""
        self._http.close()

    def __enter__(self) -> ApiModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- requests
    def _checked_send(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """``ApiClient.send``, refusing a 2xx body that is not a completion (it is then never cached)."""
        data = self._http.send(endpoint, body)
        problem = shape_problem(data, endpoint)
        if problem:
            raise ApiError(
                f"{self.spec.shown_url}{endpoint} answered with {problem}, so it is not an OpenAI-compatible "
                f"completion (not cached): {self._http.redact(one_line(json.dumps(data), 200))}"
            )
        return data

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """The response to ``body``, from the cache when it holds it."""
        if not self.spec.cache:
            return self._checked_send(endpoint, body)
        cached = self._cache.get(endpoint, body)
        if cached is not None:
            return cached
        data = self._checked_send(endpoint, body)
        self._cache.put(endpoint, body, data)
        return data

    def _post_many(
        self, requests: Sequence[Request], progress: bool | None, desc: str
    ) -> list[dict[str, Any]]:
        """Responses in input order, ``max_concurrency`` at a time; identical requests are sent once."""
        unique: dict[str, Request] = {}
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
        mass: bool = True,
    ) -> pd.DataFrame:
        """Rate each prompt on ``options`` from the server's next-token log-probabilities.

        Columns and ``values``/``reverse`` as in ``readout.ratings.rate``: ``prompt``, ``p_<option>``,
        ``mass``, ``expected``, ``argmax``, ``reversed``; plus ``method`` ("logprobs" or "sampled"),
        ``n_missing_options`` and ``n_samples``. ``chat`` None uses the spec's endpoint; ``system``
        adds a system message (chat only). ``batch_size`` and ``mass`` are accepted for compatibility and
        ignored (the server's log-probabilities give the mass at no extra cost).

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
        return rate_on_server(
            self._post_many,
            self.spec,
            prompts,
            options,
            sep=sep,
            values=values,
            reverse=reverse,
            chat=chat,
            system=system,
            n_samples=n_samples,
            progress=progress,
        )

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
        items = check_prompts(prompts)
        max_new_tokens = check_int(max_new_tokens, "max_new_tokens", 1)
        sampling = check_sampling(temperature, top_p, top_k)
        seed = check_int(seed, "seed", 0)
        stops = check_stop(stop)
        use_chat = choose_chat(self.spec.chat, chat, system)
        params: dict[str, Any] = {
            "max_tokens": max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.top_k > 0:
            params["top_k"] = sampling.top_k
        if stops:
            params["stop"] = stops
        requests = [
            completion_request(self.spec.model, p, use_chat, system, seed=seed + i, **params)
            for i, p in enumerate(items)
        ]
        texts = [completion_text(d, use_chat) for d in self._post_many(requests, progress, "generating")]
        out = []
        for text in texts:
            cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
            out.append(text[: min(cuts)] if cuts else text)
        return out
