"""The seams between a model and what uses it.

:class:`Model` is what every backend offers a study: rate and generate, a name, a description. Local
Hugging Face models (``LanguageModel``) and OpenAI-compatible servers (``runs.backends.openai``) both
implement it. :class:`LocalModel` is what ``readout/`` may use of a local model: weights, tokenizer,
layout, active edits. ``LanguageModel`` implements it and composes the readout functions; they never
import it back, so the dependency runs one way (``language_model`` -> ``readout`` -> ``model``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import torch

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from valuescope.models.layout import Layout
    from valuescope.models.loader import ModelInfo

Item = str | tuple[str, str]
"""A text, or (context, text): the context is read by the model but only the text is pooled."""


@dataclass(frozen=True)
class Site:
    """One place to read: ``kind`` 'residual' (a read point) or 'neurons' (a block's MLP)."""

    kind: Literal["residual", "neurons"]
    index: int

    def order(self) -> tuple[int, int]:
        """Position in the forward pass, for finding the deepest site."""
        if self.kind == "residual":
            return (0, 0) if self.index == 0 else (self.index - 1, 2)
        return (self.index, 1)


@dataclass
class TokenReadout:
    """Every token's values for ``pool="all"``: ``values`` (n, sites, seq, d) right-padded, ``mask`` (n, seq)
    marks the pooled text's tokens."""

    values: torch.Tensor
    mask: torch.Tensor


class Edit(Protocol):
    """What a readout needs of an edit active on the model (``edit.interventions`` implements it): a
    fingerprint for cache keys, whether it is bound to token positions, what it does to each prompt of a
    generation (``prompt_key``), and a ``with`` block that applies it."""

    position_free: bool

    def fingerprint(self) -> dict[str, Any]: ...

    def prompt_key(self, item: int) -> int: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


class Model(Protocol):
    """What a study may ask of any model, local or behind an API: ratings from next-token
    probabilities, generations, and a description for the run's manifest."""

    @property
    def name(self) -> str: ...

    @property
    def instruct(self) -> bool:
        """Whether prompts go through the chat template by default."""
        ...

    def describe(self) -> dict[str, Any]:
        """Manifest-facing description of the model."""
        ...

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
        batch_size: int | None = None,
        progress: bool | None = None,
        mass: bool = True,
    ) -> pd.DataFrame:
        """Each prompt's probabilities over ``options`` and its expected rating."""
        ...

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
        """Greedy or sampled continuations, one per prompt."""
        ...


class LocalModel(Protocol):
    """A local causal LM: its weights, tokenizer and layout, the edits active on it, and the batch
    state that position-bound edits read while a forward pass runs."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    info: ModelInfo
    layout: Layout

    @property
    def active_interventions(self) -> Sequence[Edit]:
        """The edits applied now, innermost last."""
        ...

    last_positions: torch.Tensor | None
    """Each batch row's last real position, while a readout's forward pass runs."""
    batch_items: list[int] | None
    """During generation: which prompt (index in the caller's list) each batch row is."""

    @property
    def name(self) -> str: ...

    @property
    def n_layers(self) -> int: ...

    @property
    def d_model(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def instruct(self) -> bool: ...

    @property
    def weights_hash(self) -> str: ...

    def read(
        self,
        items: list[Item],
        sites: list[Site],
        pool: str,
        batch_size: int,
        progress: bool | None,
        desc: str,
    ) -> torch.Tensor | TokenReadout:
        """``sites`` of already-checked ``items``, pooled, computed now (no disk cache)."""
        ...

    @overload
    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: Literal["last", "mean"] = ...,
        batch_size: int = ...,
        progress: bool | None = ...,
        store: str | Path | None = ...,
    ) -> torch.Tensor: ...

    @overload
    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: Literal["all"],
        batch_size: int = ...,
        progress: bool | None = ...,
        store: str | Path | None = ...,
    ) -> TokenReadout: ...

    @overload
    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: str,
        batch_size: int = ...,
        progress: bool | None = ...,
        store: str | Path | None = ...,
    ) -> torch.Tensor | TokenReadout:
        """Residual stream at read points ``layers``, pooled (``store``: a disk cache folder)."""
        ...
