"""Forward hooks on residual read points and sublayers, robust to tensor-or-tuple signatures.

Read point 0 is the input of block 0 (the embedding output as the model scales it); read point
i >= 1 is the output of block i-1. A hook function receives the hidden state (batch, seq, d) and
returns a replacement or None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from valuescope.models.layout import Layout

HiddenFn = Callable[[torch.Tensor], torch.Tensor | None]


def _first_tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else value[0]


def _replace_first(value: Any, new: torch.Tensor) -> Any:
    if isinstance(value, torch.Tensor):
        return new
    return (new, *value[1:])


def hook_output(module: nn.Module, fn: HiddenFn) -> RemovableHandle:
    """Call ``fn`` on the module's output hidden state; a returned tensor replaces it."""

    def hook(_mod: nn.Module, _args: Any, output: Any) -> Any:
        new = fn(_first_tensor(output))
        return None if new is None else _replace_first(output, new)

    return module.register_forward_hook(hook)


def hook_input(module: nn.Module, fn: HiddenFn) -> RemovableHandle:
    """Call ``fn`` on the module's first input (positional or ``hidden_states=``); may replace it."""

    def hook(_mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            new = fn(args[0])
            return None if new is None else ((new, *args[1:]), kwargs)
        new = fn(kwargs["hidden_states"])
        return None if new is None else (args, {**kwargs, "hidden_states": new})

    return module.register_forward_pre_hook(hook, with_kwargs=True)


def hook_read_point(layout: Layout, read_point: int, fn: HiddenFn) -> RemovableHandle:
    """Hook the residual stream at a read point (see module docstring)."""
    check_read_point(layout, read_point)
    if read_point == 0:
        return hook_input(layout.blocks[0], fn)
    return hook_output(layout.blocks[read_point - 1], fn)


def check_read_point(layout: Layout, read_point: int) -> None:
    if not isinstance(read_point, int) or not 0 <= read_point <= layout.n_layers:
        raise ValueError(
            f"read point {read_point!r} is out of range; valid read points are 0..{layout.n_layers} "
            f"(0 = embeddings, i = output of block i-1; negative values count from {layout.n_layers})"
        )


def normalize_read_points(layout: Layout, layers: object, argument: str = "layers") -> list[int]:
    """Turn ints (negative counts back from n_layers, -1 = last block's output) into read points."""
    if isinstance(layers, int):
        layers = [layers]
    if not isinstance(layers, list | tuple | range) or len(layers) == 0:
        raise ValueError(f"{argument} must be a non-empty list of read points 0..{layout.n_layers}")
    out = []
    for layer in layers:
        if not isinstance(layer, int) or isinstance(layer, bool):
            raise TypeError(f"{argument} holds {layer!r}; read points are integers 0..{layout.n_layers}")
        rp = layout.n_layers + 1 + layer if layer < 0 else layer
        if not 0 <= rp <= layout.n_layers:
            raise ValueError(
                f"{argument}: read point {layer} is out of range for a {layout.n_layers}-block model; "
                f"use 0..{layout.n_layers} (or -1..-{layout.n_layers + 1} counted from the end)"
            )
        out.append(rp)
    return out


def normalize_blocks(layout: Layout, blocks: object, argument: str = "blocks") -> list[int]:
    """Block indices 0..n_layers-1 (negative counts from the end)."""
    if isinstance(blocks, int):
        blocks = [blocks]
    if not isinstance(blocks, list | tuple | range) or len(blocks) == 0:
        raise ValueError(f"{argument} must be a non-empty list of block indices 0..{layout.n_layers - 1}")
    out = []
    for b in blocks:
        if not isinstance(b, int) or isinstance(b, bool):
            raise TypeError(f"{argument} holds {b!r}; blocks are integers 0..{layout.n_layers - 1}")
        idx = layout.n_layers + b if b < 0 else b
        if not 0 <= idx < layout.n_layers:
            raise ValueError(f"{argument}: block {b} is out of range; use 0..{layout.n_layers - 1}")
        out.append(idx)
    return out
