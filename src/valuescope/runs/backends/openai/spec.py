"""Where an API model lives and how to call it (``ApiSpec``), and the checks that keep credentials
out of what is stored or shown: a key given where a variable name belongs is refused, credentials in
a URL are redacted, and plain ``http://`` to another machine is recognised.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
