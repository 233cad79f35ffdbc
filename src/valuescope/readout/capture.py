"""Run the decoder body with capture hooks, pooling as it goes and stopping after the deepest read.

The LM head never runs; the final norm runs only if nothing stops the body earlier (it never does
here, since the deepest capture raises ``_StopForward``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import torch
from torch import nn

from valuescope.model import Site
from valuescope.models.hooks import hook_input, hook_output
from valuescope.models.layout import Layout
from valuescope.readout.batching import Batch

Pool = Literal["last", "mean", "all"]
POOLS = ("last", "mean", "all")


class _StopForward(Exception):
    pass


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


# --------------------------------------------------------------------------- unedited blocks, replayed
def is_inert_hook(hook: object) -> bool:
    """transformers' output-capturing hooks: installed for good by the first ``output_hidden_states=True``
    call, they do nothing unless such a call is collecting, so a replayed block stays exact."""
    return getattr(hook, "__module__", "") == "transformers.utils.output_capturing"


def _has_hooks(module: nn.Module, pre: bool = True, post: bool = True) -> bool:
    forward = [h for h in module._forward_hooks.values() if not is_inert_hook(h)] if post else []
    return bool((pre and module._forward_pre_hooks) or forward or getattr(module, "_backward_hooks", None))


def _global_hooks() -> bool:
    from torch.nn.modules import module as nn_module

    return bool(
        getattr(nn_module, "_global_forward_hooks", None)
        or getattr(nn_module, "_global_forward_pre_hooks", None)
    )


def replayable_blocks(layout: Layout) -> int:
    """How many leading blocks run exactly as they would unedited: none of their submodules carries a
    hook, nor does the block itself a pre-hook (a forward hook on the block's own output is fine: it
    edits the replayed output). Counts the block whose output is hooked, then stops."""
    if _global_hooks():
        return 0
    n = 0
    for block in layout.blocks:
        if "forward" in block.__dict__ or _has_hooks(block, post=False):
            break
        if any(_has_hooks(m) or "forward" in m.__dict__ for m in block.modules() if m is not block):
            break
        n += 1
        if _has_hooks(block, pre=False):
            break
    return n


@contextlib.contextmanager
def record_blocks(layout: Layout, into: list[object]) -> Iterator[None]:
    """Append every block's output (as the block returns it) during one forward pass to ``into``."""

    def hook(_mod: nn.Module, _args: object, output: object) -> None:
        into.append(output)

    # first among the hooks, so that it sees what the block itself returned, before any edit of it
    handles = [block.register_forward_hook(hook, prepend=True) for block in layout.blocks]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
    if len(into) != len(layout.blocks):
        into.clear()  # a pass that stopped early (or ran twice) recorded nothing usable


def _copy_output(output: object) -> object:
    if isinstance(output, torch.Tensor):
        return output.clone()
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return (output[0].clone(), *output[1:])
    return output


@contextlib.contextmanager
def replay_blocks(layout: Layout, outputs: Sequence[object], n: int) -> Iterator[None]:
    """During one forward pass of the inputs ``outputs`` were recorded on (``record_blocks``), blocks
    ``0..n-1`` return those outputs instead of computing them (hooks on a block's own output still run,
    on a copy). Exact when ``n <= replayable_blocks(layout)`` and the weights have not changed since."""
    stubbed: list[nn.Module] = []
    n = min(n, len(outputs))
    try:
        for i in range(n):

            def stub(
                *_args: object, _out: object = outputs[i], _last: bool = i == n - 1, **_kw: object
            ) -> object:
                return _copy_output(_out) if _last else _out

            block = layout.blocks[i]
            block.forward = stub
            stubbed.append(block)
        yield
    finally:
        for block in stubbed:
            del block.forward
