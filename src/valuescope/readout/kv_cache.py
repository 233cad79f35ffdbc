"""A KV cache for generation whose attention layers append in place.

``DynamicLayer`` concatenates the whole cache at every step, which costs time quadratic in length;
the layers here write keys and values into a preallocated (batch, heads, capacity, dim) buffer that
grows by doubling, and sliding-window layers keep only the states their window still needs."""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer


class _Buffer(DynamicLayer):
    """Keys and values in a preallocated (batch, heads, capacity, dim) buffer, appended in place:
    ``DynamicLayer`` concatenates the whole cache at every step, which costs time quadratic in length."""

    capacity: int
    filled: int
    _k: torch.Tensor
    _v: torch.Tensor

    def _start(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """On the first update: initialise the layer and allocate its buffer."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._allocate(key_states, value_states)

    def _allocate(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        b, h, _, dk = key_states.shape
        self._k = key_states.new_empty((b, h, self.capacity, dk))
        self._v = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.filled = 0

    def _append(self, key_states: torch.Tensor, value_states: torch.Tensor, keep: int | None) -> None:
        """Write new states after the filled part; when they do not fit, first move the last ``keep``
        states to the front (sliding layers need no more), then grow the buffer if still needed."""
        q = key_states.shape[-2]
        if self.filled + q > self.capacity:
            if keep is not None and keep < self.filled:
                start = self.filled - keep
                self._k[:, :, :keep] = self._k[:, :, start : self.filled].clone()
                self._v[:, :, :keep] = self._v[:, :, start : self.filled].clone()
                self.filled = keep
            if self.filled + q > self.capacity:
                k, v, n = self._k, self._v, self.filled
                self.capacity = max(2 * self.capacity, n + q)
                self._allocate(key_states, value_states)
                self._k[:, :, :n] = k[:, :, :n]
                self._v[:, :, :n] = v[:, :, :n]
                self.filled = n
        end = self.filled + q
        self._k[:, :, self.filled : end] = key_states
        self._v[:, :, self.filled : end] = value_states
        self.filled = end

    def _expose(self, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Point ``keys`` and ``values`` at the buffered states from ``start`` to the filled end."""
        self.keys, self.values = self._k[:, :, start : self.filled], self._v[:, :, start : self.filled]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._k, self._v = self._k[indices], self._v[indices]
            self._expose()


class _BufferedLayer(_Buffer):
    """A full-attention ``DynamicLayer`` on a preallocated buffer."""

    def __init__(self, capacity: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # transformers DynamicLayer
        self.capacity, self.filled = capacity, 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._start(key_states, value_states)
        self._append(key_states, value_states, None)
        return self._expose()

    def get_seq_length(self) -> int:
        return self.filled if self.is_initialized else 0


class _BufferedSlidingLayer(_Buffer, DynamicSlidingWindowLayer):
    """A ``DynamicSlidingWindowLayer`` on a preallocated buffer: returns what it would return (the
    last ``sliding_window - 1`` states before this update, and the new ones)."""

    def __init__(self, sliding_window: int, capacity: int) -> None:
        super().__init__(sliding_window=sliding_window)
        self.capacity, self.filled = capacity, 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._start(key_states, value_states)
        window = self.sliding_window - 1
        visible = min(self.cumulative_length, window) + key_states.shape[-2]
        self.cumulative_length += key_states.shape[-2]
        self._append(key_states, value_states, window)
        return self._expose(self.filled - visible)


def make_cache(config: object, capacity: int) -> DynamicCache:
    """A ``DynamicCache`` for ``config`` whose attention layers append in place."""
    cache = DynamicCache(config=config)  # type: ignore[arg-type]
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicLayer:
            cache.layers[i] = _BufferedLayer(capacity)
        elif type(layer) is DynamicSlidingWindowLayer:
            cache.layers[i] = _BufferedSlidingLayer(
                layer.sliding_window, min(capacity, layer.sliding_window + 255)
            )
    return cache
