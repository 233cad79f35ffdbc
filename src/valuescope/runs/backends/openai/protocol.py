"""The OpenAI completion format: request bodies for ``/chat/completions`` and ``/completions``, and
reading the responses (the generated text, the first position's top log-probabilities, whether a
2xx body is a completion at all).
"""

from __future__ import annotations

import json
from typing import Any

from valuescope.runs.backends.openai.client import ApiError, one_line

CHAT = "/chat/completions"
COMPLETIONS = "/completions"
_SPACE_MARKERS = ("▁", "Ġ")

Request = tuple[str, dict[str, Any]]
"""An endpoint and the JSON body to POST to it."""


def choose_chat(default: bool, chat: bool | None, system: str | None) -> bool:
    """Whether to call the chat endpoint: ``chat``, or ``default`` (the spec's) when it is None;
    ``system`` needs the chat endpoint."""
    if chat is not None and not isinstance(chat, bool):
        raise TypeError(f"chat={chat!r}: must be True, False or None (None = the spec's chat setting)")
    chosen = default if chat is None else chat
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a string or None, got {type(system).__name__}")
    if system is not None and not chosen:
        raise ValueError("system= needs the chat endpoint; pass chat=True or drop system")
    return chosen


def completion_request(model: str, text: str, chat: bool, system: str | None, **params: Any) -> Request:
    """The request that continues ``text`` (the user message on the chat endpoint)."""
    if chat:
        messages = [{"role": "user", "content": text}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        return CHAT, {"model": model, "messages": messages, **params}
    return COMPLETIONS, {"model": model, "prompt": text, **params}


def logprob_request(model: str, top_logprobs: int, text: str, chat: bool, system: str | None) -> Request:
    """One greedy token with the ``top_logprobs`` likeliest alternatives."""
    k = top_logprobs
    extra: dict[str, Any] = {"logprobs": True, "top_logprobs": k} if chat else {"logprobs": k}
    return completion_request(model, text, chat, system, max_tokens=1, temperature=0.0, **extra)


def normalise(token: str) -> str:
    """The token's text with a leading SentencePiece/BPE space marker written as a space."""
    for marker in _SPACE_MARKERS:
        if token.startswith(marker):
            return " " + token[len(marker) :]
    return token


def _choice(data: dict[str, Any]) -> dict[str, Any]:
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise ApiError(f"the server's response has no choices: {one_line(json.dumps(data))}") from None
    if not isinstance(choice, dict):
        raise ApiError(f"the server's response has a malformed choice: {one_line(json.dumps(data))}")
    return choice


def first_top_logprobs(data: dict[str, Any], chat: bool) -> list[tuple[str, float]] | None:
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


def shape_problem(data: dict[str, Any], endpoint: str) -> str:
    """What makes a 2xx body not a completion ("" when it is one): ``choices`` must be a non-empty
    list of objects with a ``message`` object (chat) or a ``text`` string (completions)."""
    choices = data.get("choices")
    problem = ""
    if not isinstance(choices, list) or not choices:
        problem = "no choices"
    elif not all(isinstance(c, dict) for c in choices):
        problem = "a choice that is not an object"
    elif endpoint == CHAT and not all(isinstance(c.get("message"), dict) for c in choices):
        problem = "a choice without a message object"
    elif endpoint == COMPLETIONS and not all(isinstance(c.get("text"), str) for c in choices):
        problem = "a choice without a text string"
    return problem


def completion_text(data: dict[str, Any], chat: bool) -> str:
    """The generated text of the first choice."""
    choice = _choice(data)
    if chat:
        message = choice.get("message") or {}
        return str(message.get("content") or "")
    return str(choice.get("text") or "")
