"""Run the decoder body with capture hooks, pooling as it goes and stopping after the deepest read.

The LM head never runs; the final norm runs only if nothing stops the body earlier (it never does
here, since the deepest capture raises ``_StopForward``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from valuescope.models.hooks import hook_input, hook_output
from valuescope.models.layout import Layout
from valuescope.readout.batching import Batch

Pool = Literal["last", "mean", "all"]
POOLS = ("last", "mean", "all")


class _StopForward(Exception):
    pass


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


def pool_hidden(h: torch.Tensor, batch: Batch, pool: str) -> torch.Tensor:
    """Pool (batch, seq, d) to (batch, d) — or keep all tokens for 'all' — in float32."""
    h = h.float()
    if pool == "last":
        return h[torch.arange(h.shape[0], device=h.device), batch.last.to(h.device)]
    if pool == "mean":
        span = batch.span_mask.to(h.device)
        return (h * span[..., None]).sum(1) / span.sum(1, keepdim=True).clamp(min=1)
    return h


def _module_for(layout: Layout, site: Site) -> tuple[nn.Module, bool]:
    """(module, is_input) where the site's tensor appears."""
    if site.kind == "residual":
        if site.index == 0:
            return layout.blocks[0], True
        return layout.blocks[site.index - 1], False
    return layout.mlp_down(site.index), True


def run_capture(
    layout: Layout,
    batch: Batch,
    sites: Sequence[Site],
    pool: str,
    device: torch.device,
    on_batch_start: Callable[[Batch], None] | None = None,
) -> dict[Site, torch.Tensor]:
    """Forward one batch through the body and return the pooled tensor at every site."""
    captured: dict[Site, torch.Tensor] = {}
    deepest = max(sites, key=Site.order)
    handles = []

    def make_fn(site: Site) -> Callable[[torch.Tensor], None]:
        def fn(h: torch.Tensor) -> None:
            captured[site] = pool_hidden(h, batch, pool).cpu()
            if site == deepest and len(captured) == len(set(sites)):
                raise _StopForward

        return fn

    try:
        for site in dict.fromkeys(sites):
            module, is_input = _module_for(layout, site)
            fn = make_fn(site)
            handles.append(hook_input(module, fn) if is_input else hook_output(module, fn))
        if on_batch_start is not None:
            on_batch_start(batch)
        with contextlib.suppress(_StopForward):
            layout.body(
                input_ids=batch.input_ids.to(device),
                attention_mask=batch.attention_mask.to(device),
                use_cache=False,
            )
    finally:
        for handle in handles:
            handle.remove()
    missing = [s for s in sites if s not in captured]
    if missing:
        raise RuntimeError(
            f"capture hooks did not fire for {missing}; the layout may be wrong for this model"
        )
    return captured
