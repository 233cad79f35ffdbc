"""Interventions as re-enterable context managers that nest and always remove their hooks.

Each one describes itself (``fingerprint``) so that caches keyed on active interventions never
serve values computed under a different edit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from valuescope.models.hooks import HiddenFn
from valuescope.models.layout import Layout

Positions = Literal["all", "last"] | Sequence[int]


class Host(Protocol):
    """What an intervention needs from the model it edits."""

    layout: Layout
    active_interventions: list[Intervention]
    last_positions: torch.Tensor | None

    @property
    def special_token_ids(self) -> frozenset[int]: ...

    def mean_residual_norm(self, read_point: int) -> float: ...

    def mean_residual(self, read_point: int) -> torch.Tensor: ...


def tensor_digest(t: torch.Tensor) -> str:
    data = t.detach().float().contiguous().cpu().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def as_vector(host: Host, v: object, argument: str) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        try:
            v = torch.as_tensor(v, dtype=torch.float32)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{argument} must be a 1-D tensor of size d_model") from e
    d_model = host.layout.d_model
    if v.ndim != 1 or v.shape[0] != d_model:
        raise ValueError(
            f"{argument} has shape {tuple(v.shape)}; it must be ({d_model},), one value per d_model"
        )
    if not torch.isfinite(v).all():
        raise ValueError(f"{argument} contains NaN or infinite values")
    return v.detach().float()


class Intervention:
    """Base class: subclasses implement ``_install`` and ``fingerprint``."""

    position_free: bool = True
    """True when the edit depends on no token position, so a forward pass may be split (a shared
    prefix run once through a KV cache, then each suffix) without changing what it does."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._handles: list[RemovableHandle] = []
        self._depth = 0

    def _install(self) -> list[RemovableHandle]:
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        raise NotImplementedError

    def residual_functions(self) -> dict[int, HiddenFn] | None:
        """For an edit that only rewrites the residual stream at read points, treating every batch row on
        its own: the function applied at each read point (``EditEach`` applies it to chosen rows, after
        ``_helper_hooks``); None for any other edit."""
        return None

    def prompt_key(self, item: int) -> int:
        """What this edit does to prompt ``item`` of a ``generate`` call, as a number: prompts with the same
        tokens and the same key under every active edit share one prefill. 0 unless the edit treats
        prompts differently (``host.batch_items``)."""
        return 0

    def _helper_hooks(self) -> list[RemovableHandle]:
        """Install the hooks that ``residual_functions`` rely on (such as the special-position record)."""
        return []

    def __enter__(self) -> Intervention:
        if self._depth:
            raise RuntimeError("this intervention is already active; create a second one to apply it twice")
        handles: list[RemovableHandle] = []
        try:
            handles = self._install()
        except BaseException:
            for h in handles:
                h.remove()
            raise
        self._handles = handles
        self._depth = 1
        self.host.active_interventions.append(self)
        return self

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Inside, the model computes as if this active edit were not applied (it stays among the
        host's active edits); its hooks are installed again on the way out."""
        for h in self._handles:
            h.remove()
        self._handles = []
        try:
            yield
        finally:
            if self._depth:
                self._handles = self._install()

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._depth = 0
        if self in self.host.active_interventions:
            self.host.active_interventions.remove(self)


class SpecialPositions:
    """Which positions of the current forward pass hold special tokens (BOS, chat markers), recorded by a
    pre-hook on the embedding, so that an edit can leave them as they were (``keep``)."""

    def __init__(self, host: Host) -> None:
        self.layout = host.layout
        self.ids = torch.tensor(sorted(host.special_token_ids), dtype=torch.long)
        self.mask: torch.Tensor | None = None

    def install(self) -> RemovableHandle:
        def record(_mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            ids = args[0] if args else kwargs.get("input")
            if isinstance(ids, torch.Tensor) and ids.ndim == 2 and ids.dtype == torch.long:
                self.mask = torch.isin(ids, self.ids.to(ids.device))
            else:
                self.mask = None  # embeddings given directly: positions are unknown, nothing is kept

        return self.layout.embed.register_forward_pre_hook(record, with_kwargs=True)

    def keep(self, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out`` with the special positions of ``h`` (batch, seq, d) put back."""
        mask = self.mask
        if mask is None or mask.shape != h.shape[:2]:
            return out
        return torch.where(mask.to(h.device)[..., None], h, out)
