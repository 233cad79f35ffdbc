"""The OpenAI-compatible API backend: against a scripted stdlib server (retries, errors, key redaction,
cache, option mapping, sampling fallback) and a real llama-cpp-python server (parity with in-process)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
from conftest import get_model
from llama_server import dequantized_gguf, free_port, llama_server, require_llama_server

from valuescope.models.registry import REGISTRY
from valuescope.runs.backends.openai.client import ApiError
from valuescope.runs.backends.openai.model import ApiModel
from valuescope.runs.backends.openai.spec import ApiSpec

OPTIONS = [str(i) for i in range(1, 7)]
ITEMS = [
    "Honesty matters to me.",
    "It is important to help others.",
    "Lying to a friend to protect their feelings is acceptable.",
    "Tradition is important to me.",
    "Being wealthy is important to me.",
    "Rules should always be followed.",
    "Personal freedom is important.",
    "I enjoy taking risks.",
]
REVERSE = [i % 3 == 2 for i in range(len(ITEMS))]
CHAT_PROMPTS = [
    "How much do you agree with this statement, from 1 (strongly disagree) to 6 (strongly agree)? "
    f"Answer with one number.\nStatement: {s}"
    for s in ITEMS
]
_HEAD = (
    "Rate how much you agree with each statement from 1 (strongly disagree) to 6 (strongly agree).\n"
    "Statement: Cruelty to animals is wrong.\nRating: 6\n"
    "Statement: Stealing is fine if nobody notices.\nRating: 1\n"
)
BASE_PROMPTS = [_HEAD + f"Statement: {s}\nRating:" for s in ITEMS]
SECRET = "sk-test-0123456789abcdefSECRET"


# ----------------------------------------------------------------------------- a scripted server
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


Reply = tuple[int, Any, dict[str, str]]


@dataclass
class FakeServer:
    """Answers from ``script`` first (status, JSON body, headers; "{auth}" in a body string becomes the
    Authorization header it got), then from ``respond``; records every request."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    respond: Callable[[str, dict[str, Any]], Any] | None = None

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


def _echo(path: str, body: dict[str, Any]) -> Any:
    text = body.get("prompt") if "prompt" in body else body["messages"][-1]["content"]
    out = f"<{text}|{body.get('seed')}>"
    if path.endswith("/chat/completions"):
        return {"choices": [{"message": {"role": "assistant", "content": out}, "logprobs": None}]}
    return {"choices": [{"text": out, "logprobs": None}]}


def _handler(server: FakeServer, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
            auth = self.headers.get("Authorization", "")
            raw = json.dumps(body).replace("{auth}", auth).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with lock:
                server.seen.append(Seen(method, self.path, dict(self.headers), body))
                scripted = server.script.pop(0) if server.script else None
            if scripted is not None:
                self._reply(*scripted)
            elif method == "GET":
                self._reply(200, {"object": "list", "data": [{"id": "fake-model", "owned_by": "tests"}]}, {})
            else:
                assert body is not None
                self._reply(200, (server.respond or _echo)(self.path, body), {})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server, threading.Lock()))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def api_for(url: str, tmp_path: Path, **kw: Any) -> ApiModel:
    spec: dict[str, Any] = {"name": "test-api", "base_url": url, "model": "fake-model", "backoff_s": 0.01}
    spec["cache_dir"] = tmp_path / "cache"
    return ApiModel(ApiSpec(**{**spec, **kw}))


def cache_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in sorted((tmp_path / "cache").rglob("*.json")))


# ----------------------------------------------------------------------------- HTTP behaviour
def test_retries_503_then_succeeds(fake: FakeServer, tmp_path: Path) -> None:
    busy: Reply = (503, {"error": {"message": "busy"}}, {})
    fake.script = [busy, busy]
    api = api_for(fake.url, tmp_path, chat=False)
    assert api.generate(["hi"]) == ["<hi|0>"]
    assert len(fake.posts()) == 3
    assert api.n_requests == 3


def test_429_with_retry_after_is_retried(fake: FakeServer, tmp_path: Path) -> None:
    fake.script = [(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})]
    api = api_for(fake.url, tmp_path, chat=False)
    assert api.generate(["hi"]) == ["<hi|0>"]
    assert len(fake.posts()) == 2


def test_gives_up_after_max_retries(fake: FakeServer, tmp_path: Path) -> None:
    fake.script = [(500, {"error": {"message": "kaput"}}, {})] * 10
    api = api_for(fake.url, tmp_path, chat=False, max_retries=2)
    with pytest.raises(ApiError, match=r"failed 3 times.*500.*kaput"):
        api.generate(["hi"])
    assert len(fake.posts()) == 3
    assert not list((tmp_path / "cache").rglob("*.json")), "a failure must not be cached"


def test_400_raises_at_once_with_the_servers_message(fake: FakeServer, tmp_path: Path) -> None:
    fake.script = [(400, {"error": {"message": "max_tokens is too large"}}, {})]
    api = api_for(fake.url, tmp_path, chat=False)
    with pytest.raises(ApiError, match="max_tokens is too large") as info:
        api.generate(["hi"])
    assert info.value.status == 400
    assert len(fake.posts()) == 1


def test_key_is_sent_but_never_stored_or_shown(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALUESCOPE_TEST_KEY", SECRET)
    api = api_for(fake.url, tmp_path, chat=True, api_key_env="VALUESCOPE_TEST_KEY")
    assert api.generate(["hi"]) == ["<hi|0>"]
    assert fake.posts()[0].headers["Authorization"] == f"Bearer {SECRET}"
    shown = [cache_text(tmp_path), json.dumps(api.describe()), repr(api), repr(api.spec)]
    shown.append(api.spec.model_dump_json())
    assert fake.seen[-1].headers["Authorization"] == f"Bearer {SECRET}"  # describe() asked /models
    echo = {"error": {"message": "bad key {auth}"}}
    fake.script = [(400, echo, {})]
    with pytest.raises(ApiError) as e400:
        api.generate(["other"])
    fake.script = [(503, echo, {})] * 6
    with pytest.raises(ApiError) as e503:
        api.generate(["third"], max_new_tokens=2)
    fake.script = [(401, echo, {})]
    with pytest.raises(ApiError) as e401:
        api.check()
    for exc in (e400.value, e503.value, e401.value):
        shown += [str(exc), repr(exc)]
        assert "***" in str(exc)
    for text in shown:
        assert SECRET not in text


def test_missing_key_variable_is_named(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VALUESCOPE_UNSET_KEY", raising=False)
    api = api_for(fake.url, tmp_path, api_key_env="VALUESCOPE_UNSET_KEY")
    with pytest.raises(ValueError, match="VALUESCOPE_UNSET_KEY is not set"):
        api.check()
    assert not fake.seen


def test_spec_validation_never_echoes_a_key_given_as_the_variable_name() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ApiSpec(name="x", base_url="http://127.0.0.1:1/v1", model="m", api_key_env=SECRET)
    assert SECRET not in str(info.value)
    with pytest.raises(pydantic.ValidationError, match="http"):
        ApiSpec(name="x", base_url="127.0.0.1:1/v1", model="m")
    assert ApiSpec(name="x", base_url="http://h:1/v1/", model="m").base_url == "http://h:1/v1"


def test_check_on_a_closed_port_raises_connection_error() -> None:
    port = free_port()  # bound, then closed: nothing listens there
    api = ApiModel(ApiSpec(name="gone", base_url=f"http://127.0.0.1:{port}/v1", model="m"))
    with pytest.raises(ConnectionError) as info:
        api.check()
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/v1" in message
    assert "\n" not in message
    assert api.describe()["server"] is None


def test_check_and_describe(fake: FakeServer, tmp_path: Path) -> None:
    api = api_for(fake.url, tmp_path)
    assert api.check()["data"][0]["id"] == "fake-model"
    d = api.describe()
    assert d["family"] == "api" and d["weights_sha256"] is None
    assert d["base_url"] == fake.url and d["server_model"] == "fake-model"
    assert d["server"] == {"id": "fake-model", "owned_by": "tests"}
    assert fake.seen[0].path == "/v1/models"


def test_response_cache_makes_a_rerun_free(fake: FakeServer, tmp_path: Path) -> None:
    prompts = [f"p{i}" for i in range(6)]
    api = api_for(fake.url, tmp_path, chat=False)
    first = api.generate(prompts, seed=3)
    assert api.n_requests == 6
    again = api_for(fake.url, tmp_path, chat=False)
    assert again.generate(prompts, seed=3) == first
    assert again.n_requests == 0
    files = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 6 and not list((tmp_path / "cache").rglob("*.tmp"))
    record = json.loads(files[0].read_text())
    assert set(record) == {"base_url", "endpoint", "request", "response"}
    files[0].write_text("{not json")  # a broken entry is fetched again and rewritten
    assert again.generate(prompts, seed=3) == first
    assert again.n_requests == 1
    assert again.generate(prompts, seed=4) != first  # another seed is another request


def test_generate_sends_parameters_and_keeps_order(fake: FakeServer, tmp_path: Path) -> None:
    prompts = [f"prompt {i}" for i in range(10)]
    api = api_for(fake.url, tmp_path, chat=True, max_concurrency=4)
    out = api.generate(
        prompts, max_new_tokens=5, temperature=0.5, top_p=0.9, top_k=7, seed=7, stop=["|"], system="Be brief."
    )
    assert out == [f"<{p}" for p in prompts]  # cut before the stop string
    by_prompt = {s.body["messages"][-1]["content"]: s.body for s in fake.posts() if s.body}
    for i, p in enumerate(prompts):
        body = by_prompt[p]
        assert body["seed"] == 7 + i
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert (body["max_tokens"], body["temperature"], body["top_p"], body["top_k"]) == (5, 0.5, 0.9, 7)
        assert body["stop"] == ["|"] and body["model"] == "fake-model"
    with pytest.raises(ValueError, match="system"):
        api.generate(["x"], chat=False, system="s")


# ----------------------------------------------------------------------------- option mapping
def _chat_logprobs(top: dict[str, float]) -> dict[str, Any]:
    content = [{"token": t, "logprob": lp} for t, lp in top.items()]
    first = {"token": next(iter(top)), "logprob": next(iter(top.values())), "top_logprobs": content}
    return {"choices": [{"message": {"content": first["token"]}, "logprobs": {"content": [first]}}]}


def _completion_logprobs(top: dict[str, float]) -> dict[str, Any]:
    logprobs = {"tokens": [next(iter(top))], "top_logprobs": [top]}
    return {"choices": [{"text": next(iter(top)), "logprobs": logprobs}]}


def test_chat_logprobs_map_to_options(fake: FakeServer, tmp_path: Path) -> None:
    top = {" 1": -1.0, "1": -2.0, "▁2": -3.0, "Ġ3": -1.5, "Hello": -0.5}
    fake.respond = lambda path, body: _chat_logprobs(top)
    api = api_for(fake.url, tmp_path, chat=True, top_logprobs=5)
    df = api.rate(["q"], ["1", "2", "3", "4"], reverse=True)
    body = fake.posts()[0].body
    assert body is not None
    assert (body["max_tokens"], body["temperature"], body["logprobs"], body["top_logprobs"]) == (
        1,
        0.0,
        True,
        5,
    )
    raw = np.array([math.exp(-1) + math.exp(-2), math.exp(-3), math.exp(-1.5), 0.0])
    row = df.iloc[0]
    assert row["mass"] == pytest.approx(raw.sum())
    assert [row[f"p_{o}"] for o in "1234"] == pytest.approx(raw / raw.sum())
    assert row["expected"] == pytest.approx(1 + 4 - (raw / raw.sum()) @ [1, 2, 3, 4])
    assert (row["method"], row["n_missing_options"], row["n_samples"], row["argmax"]) == (
        "logprobs",
        1,
        0,
        "1",
    )
    assert bool(row["reversed"])


def test_completion_continues_after_a_separate_space_token(fake: FakeServer, tmp_path: Path) -> None:
    def respond(path: str, body: dict[str, Any]) -> Any:
        if body["prompt"].endswith(" "):
            return _completion_logprobs({"1": -0.1, "2": -2.0, "x": -3.0})
        return _completion_logprobs({" ": -0.5, " 1": -1.0, "1": -2.0})

    fake.respond = respond
    api = api_for(fake.url, tmp_path, chat=False)
    df = api.rate(["Rating:"], ["1", "2"])
    prompts = [s.body["prompt"] for s in fake.posts() if s.body]
    assert prompts == ["Rating:", "Rating: "]
    assert fake.posts()[0].body["logprobs"] == 20  # type: ignore[index]
    # " 1" in one token, or " " then "1"; a "1" straight after the colon is another text.
    p1 = math.exp(-1.0) + math.exp(-0.5) * math.exp(-0.1)
    p2 = math.exp(-0.5) * math.exp(-2.0)
    assert df["mass"][0] == pytest.approx(p1 + p2)
    assert df["p_1"][0] == pytest.approx(p1 / (p1 + p2))


def test_all_options_missing_gives_nan(fake: FakeServer, tmp_path: Path) -> None:
    fake.respond = lambda path, body: _chat_logprobs({"Hello": -0.1})
    df = api_for(fake.url, tmp_path).rate(["q"], ["1", "2"])
    assert df["mass"][0] == 0 and math.isnan(df["expected"][0]) and df["argmax"][0] is None
    assert df["n_missing_options"][0] == 2


def test_sampling_fallback_without_logprobs(fake: FakeServer, tmp_path: Path) -> None:
    answers = ["4", "I'd say 5", "5.", "no idea"]

    def respond(path: str, body: dict[str, Any]) -> Any:
        text = "" if body.get("logprobs") else answers[body["seed"] % 4]
        return {"choices": [{"message": {"content": text}, "logprobs": None}]}

    fake.respond = respond
    api = api_for(fake.url, tmp_path, chat=True, n_samples=8)
    df = api.rate(["a", "b"], OPTIONS, reverse=[False, True])
    sampled = [s.body for s in fake.posts() if s.body and not s.body.get("logprobs")]
    assert len(sampled) == 16
    assert {b["temperature"] for b in sampled} == {1.0}
    assert sorted(b["seed"] for b in sampled if b["messages"][-1]["content"] == "a") == list(range(8))
    assert list(df["method"]) == ["sampled", "sampled"] and list(df["n_samples"]) == [8, 8]
    assert df["p_4"][0] == pytest.approx(2 / 6) and df["p_5"][0] == pytest.approx(4 / 6)
    assert df["mass"][0] == pytest.approx(6 / 8)
    assert df["expected"][0] == pytest.approx((4 * 2 + 5 * 4) / 6)
    assert df["expected"][1] == pytest.approx(1 + 6 - (4 * 2 + 5 * 4) / 6)
    assert df["n_missing_options"][0] == 4


# ----------------------------------------------------------------------------- a real llama.cpp server
def _gguf(kind: str, tmp: pytest.TempPathFactory) -> Path:
    name, _, precision = kind.partition(":")
    locate = REGISTRY[name].locate
    assert locate is not None
    path = locate()
    return dequantized_gguf(path, tmp.mktemp("gguf") / f"{name}-f32.gguf") if precision == "f32" else path


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """``serve("gemma-3-270m")`` (or ``"...:f32"``, dequantized) -> the base URL of a llama.cpp server."""
    require_llama_server()
    logs = tmp_path_factory.mktemp("llama-logs")
    urls: dict[str, str] = {}
    with ExitStack() as stack:

        def get(kind: str) -> str:
            if kind not in urls:
                urls[kind] = stack.enter_context(llama_server(_gguf(kind, tmp_path_factory), logs))
            return urls[kind]

        yield get


PARITY = [
    # model, GGUF precision, chat, tolerance on the expected rating
    ("smollm2-135m-instruct", "", True, 0.1),
    ("smollm2-135m-instruct", "f32", True, 0.01),
    # llama.cpp multiplies Q4_K weights by int8-quantized activations; in float32 it agrees to 1e-3.
    ("gemma-3-270m", "", False, 0.25),
    ("gemma-3-270m", "f32", False, 0.01),
]


@pytest.mark.real
@pytest.mark.parametrize(("model", "precision", "chat", "tol"), PARITY)
def test_ratings_match_in_process(
    serve: Callable[[str], str], tmp_path: Path, model: str, precision: str, chat: bool, tol: float
) -> None:
    url = serve(f"{model}:{precision}" if precision else model)
    # All of the vocabulary's top tokens: no option is cut off, so both sides see the same options.
    api = api_for(url, tmp_path, model=model, chat=chat, top_logprobs=400, max_concurrency=1)
    prompts = CHAT_PROMPTS if chat else BASE_PROMPTS
    got = api.rate(prompts, OPTIONS, reverse=REVERSE)
    lm = get_model(model)
    assert lm.instruct is chat  # the same formatting: the chat template, or the raw prompt after BOS
    want = lm.rate(prompts, OPTIONS, reverse=REVERSE)
    assert (got["method"] == "logprobs").all() and (got["n_missing_options"] == 0).all()
    delta = float(np.abs(got["expected"] - want["expected"]).max())
    print(f"{model} {precision or 'quantized'}: max |delta expected| = {delta:.4f}")
    assert delta < tol, f"{model} ({precision or 'quantized'}): max |delta expected| {delta:.3f} >= {tol}"
    assert list(got["reversed"]) == REVERSE
    if precision == "f32":
        cols = [f"p_{o}" for o in OPTIONS]
        assert np.allclose(got[cols].to_numpy(float), want[cols].to_numpy(float), atol=2e-3)
        assert np.allclose(got["mass"], want["mass"], rtol=2e-2)


@pytest.mark.real
def test_generate_through_the_server_in_order_and_repeatable(
    serve: Callable[[str], str], tmp_path: Path
) -> None:
    """Greedy answers come back in input order and repeat. Requests go one at a time: concurrent ones
    reach llama.cpp in a varying order and its greedy output then differed between calls in full
    test runs (near-tied next tokens); the ordering under concurrency is checked on the fake server."""
    url = serve("smollm2-135m-instruct")
    api = api_for(url, tmp_path, chat=True, cache=False, max_concurrency=1)
    prompts = ["Name a colour.", "What is 2 + 2?", "Say hello in French."]
    out = api.generate(prompts, max_new_tokens=12)
    assert len(out) == 3 and all(isinstance(t, str) and t for t in out)
    assert out == api.generate(prompts, max_new_tokens=12)  # greedy: repeatable
    assert [api.generate([p], max_new_tokens=12)[0] for p in prompts] == out  # in input order
    stopped = api.generate(prompts, max_new_tokens=12, stop=[" "])
    assert all(" " not in t and o.startswith(t) for t, o in zip(stopped, out, strict=True))


@pytest.mark.real
def test_server_responses_are_cached(serve: Callable[[str], str], tmp_path: Path) -> None:
    url = serve("smollm2-135m-instruct")
    api = api_for(url, tmp_path, chat=True)
    first = api.rate(CHAT_PROMPTS[:3], OPTIONS)
    texts = api.generate(CHAT_PROMPTS[:3], max_new_tokens=4)
    assert api.n_requests == 6
    rerun = api_for(url, tmp_path, chat=True)
    assert rerun.rate(CHAT_PROMPTS[:3], OPTIONS).equals(first)
    assert rerun.generate(CHAT_PROMPTS[:3], max_new_tokens=4) == texts
    assert rerun.n_requests == 0
    d = rerun.describe()
    assert d["server"]["id"].endswith(".gguf") and rerun.n_requests == 1


# ----------------------------------------------------------------------------- secrets and shapes
@pytest.mark.parametrize(
    "value",
    ["sk_live_abc123DEF456ghi789", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz123456", "ABCDEF1234567890abcdef1234567890"],
)
def test_a_key_given_where_the_variable_name_goes_is_refused(value: str) -> None:
    from valuescope.runs.backends.openai.spec import looks_like_key

    assert looks_like_key(value)
    with pytest.raises(pydantic.ValidationError, match="NAME of an environment variable") as info:
        ApiSpec(name="x", base_url="http://127.0.0.1:1/v1", model="m", api_key_env=value)
    assert value not in str(info.value)


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "MY_KEY", "HF_TOKEN", "AZURE_OPENAI_API_KEY_2024"])
def test_ordinary_variable_names_are_accepted(name: str) -> None:
    assert (
        ApiSpec(name="x", base_url="http://127.0.0.1:1/v1", model="m", api_key_env=name).api_key_env == name
    )


def test_credentials_in_the_base_url_are_used_but_never_stored_or_shown(
    fake: FakeServer, tmp_path: Path
) -> None:
    password = "pa55-Word-in-url"
    url = fake.url.replace("http://", f"http://alice:{password}@")
    api = api_for(url, tmp_path, chat=True)
    assert api.generate(["hi"]) == ["<hi|0>"]
    assert fake.posts()[0].headers["Authorization"].startswith("Basic ")  # httpx sent them
    fake.script = [(400, {"error": {"message": "no"}}, {})]
    with pytest.raises(ApiError) as info:
        api.generate(["other"])
    shown = [cache_text(tmp_path), json.dumps(api.describe()), repr(api), repr(api.spec), str(info.value)]
    for text in shown:
        assert password not in text and "alice" not in text
    assert api.describe()["base_url"] == fake.url.replace("http://", "http://***@")


def test_plain_http_to_another_machine_is_flagged() -> None:
    from valuescope.runs.backends.openai.spec import insecure_url, redact_url

    assert insecure_url("http://10.1.2.3:8080/v1") and insecure_url("http://api.example.com/v1")
    assert not insecure_url("https://api.example.com/v1")
    for local in ("http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:80/v1"):
        assert not insecure_url(local), local
    assert redact_url("https://u:p@h.example/v1") == "https://***@h.example/v1"
    assert redact_url("https://h.example/v1") == "https://h.example/v1"


def test_a_2xx_body_that_is_not_a_completion_is_never_cached(fake: FakeServer, tmp_path: Path) -> None:
    api = api_for(fake.url, tmp_path, chat=True, max_retries=0)
    fake.script = [(200, {"object": "error", "message": "overloaded"}, {})]
    with pytest.raises(ApiError, match=r"no choices.*not cached"):
        api.generate(["hi"])
    assert cache_text(tmp_path) == ""
    assert api.generate(["hi"]) == ["<hi|0>"]  # asked again, not served a cached bad body
    assert '"choices"' in cache_text(tmp_path)


def test_the_api_cache_cleans_what_a_killed_writer_left(tmp_path: Path) -> None:
    import os
    import time

    from valuescope.runs.backends.openai.cache import _write_json_atomic

    path = tmp_path / "ab" / "response.json"
    path.parent.mkdir()
    stale = path.parent / "response.json.x1y2.tmp"
    stale.write_text("{")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    _write_json_atomic(path, {"ok": True})
    assert not stale.exists() and path.read_text() == '{"ok": true}'
