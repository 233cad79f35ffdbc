"""The seam between a loaded model and the functions that read it: what ``readout/`` may use of a
local model. ``LanguageModel`` implements it and composes the readout functions; they never import
it back, so the dependency runs one way (``language_model`` -> ``readout`` -> ``model``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from valuescope.edit.interventions import Intervention
    from valuescope.models.layout import Layout
    from valuescope.models.loader import ModelInfo
    from valuescope.readout.batching import Item
    from valuescope.readout.capture import Site
    from valuescope.readout.residuals import TokenReadout


class LocalModel(Protocol):
    """A local causal LM: its weights, tokenizer and layout, the edits active on it, and the batch
    state that position-bound edits read while a forward pass runs."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    info: ModelInfo
    layout: Layout
    active_interventions: list[Intervention]
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

    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: str = "last",
        batch_size: int = ...,
        progress: bool | None = None,
        store: str | Path | None = None,
    ) -> torch.Tensor | TokenReadout:
        """Residual stream at read points ``layers``, pooled (``store``: a disk cache folder)."""
        ...
