"""Interventions as re-enterable context managers that nest and always remove their hooks.

Each one describes itself (``fingerprint``) so that caches keyed on active interventions never
serve values computed under a different edit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import torch
from torch.utils.hooks import RemovableHandle

from valuescope.models.hooks import hook_output, hook_read_point, normalize_blocks, normalize_read_points
from valuescope.models.layout import Layout

Positions = Literal["all", "last"] | Sequence[int]


class Host(Protocol):
    """What an intervention needs from the model it edits."""

    layout: Layout
    active_interventions: list[Intervention]
    last_positions: torch.Tensor | None

    def mean_residual_norm(self, read_point: int) -> float: ...


def _tensor_digest(t: torch.Tensor) -> str:
    data = t.detach().float().contiguous().cpu().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _as_vector(host: Host, v: object, argument: str) -> torch.Tensor:
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

    def __init__(self, host: Host) -> None:
        self.host = host
        self._handles: list[RemovableHandle] = []
        self._depth = 0

    def _install(self) -> list[RemovableHandle]:
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        raise NotImplementedError

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

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._depth = 0
        if self in self.host.active_interventions:
            self.host.active_interventions.remove(self)


class Steer(Intervention):
    """Add ``alpha`` times a unit vector (scaled by the mean residual norm unless ``raw``)."""

    def __init__(
        self,
        host: Host,
        vector: object,
        layers: object,
        alpha: float = 1.0,
        positions: Positions = "all",
        raw: bool = False,
    ) -> None:
        super().__init__(host)
        self.vector = _as_vector(host, vector, "vector")
        if not raw and float(self.vector.norm()) == 0.0:
            raise ValueError("vector is all zeros; a steering direction needs a non-zero vector")
        self.layers = normalize_read_points(host.layout, layers)
        self.alpha = float(alpha)
        if isinstance(positions, str) and positions not in ("all", "last"):
            raise ValueError(f"positions={positions!r}: use 'all', 'last' or a list of token positions")
        self.positions = positions if isinstance(positions, str) else [int(p) for p in positions]
        self.raw = raw

    def added(self, read_point: int) -> torch.Tensor:
        """The exact vector added at ``read_point``."""
        if self.raw:
            return self.alpha * self.vector
        unit = self.vector / self.vector.norm()
        return self.alpha * self.host.mean_residual_norm(read_point) * unit

    def _install(self) -> list[RemovableHandle]:
        handles = []
        for rp in self.layers:
            delta = self.added(rp)

            def fn(h: torch.Tensor, delta: torch.Tensor = delta) -> torch.Tensor:
                d = delta.to(device=h.device, dtype=h.dtype)
                if self.positions == "all":
                    return h + d
                out = h.clone()
                if self.positions == "last":
                    last = self.host.last_positions
                    if h.shape[1] == 1 or last is None or last.shape[0] != h.shape[0]:
                        out[:, -1] += d
                    else:
                        out[torch.arange(h.shape[0]), last.to(h.device)] += d
                    return out
                idx = [p for p in self.positions if -h.shape[1] <= p < h.shape[1]]
                if idx:
                    out[:, idx] += d
                return out

            handles.append(hook_read_point(self.host.layout, rp, fn))
        return handles

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "steer",
            "vector": _tensor_digest(self.vector),
            "layers": self.layers,
            "alpha": self.alpha,
            "positions": self.positions,
            "raw": self.raw,
            "added_norms": [round(float(self.added(rp).norm()), 6) for rp in self.layers],
        }


class Ablate(Intervention):
    """Project a direction out of the residual stream (and optionally out of every sublayer output)."""

    def __init__(self, host: Host, direction: object, layers: object, sublayers: bool = False) -> None:
        super().__init__(host)
        d = _as_vector(host, direction, "direction")
        norm = float(d.norm())
        if norm == 0.0:
            raise ValueError("direction is all zeros; ablation needs a non-zero vector")
        self.unit = d / norm
        self.layers = normalize_read_points(host.layout, layers)
        self.sublayers = sublayers

    def _project_out(self, h: torch.Tensor) -> torch.Tensor:
        u = self.unit.to(device=h.device, dtype=h.dtype)
        return h - (h @ u)[..., None] * u

    def _install(self) -> list[RemovableHandle]:
        layout = self.host.layout
        handles = [hook_read_point(layout, rp, self._project_out) for rp in self.layers]
        if self.sublayers:
            for b in range(layout.n_layers):
                handles.append(hook_output(layout.attn_out(b), self._project_out))
                handles.append(hook_output(layout.mlp_out(b), self._project_out))
        return handles

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "ablate",
            "direction": _tensor_digest(self.unit),
            "layers": self.layers,
            "sublayers": self.sublayers,
        }


class ScaleNeurons(Intervention):
    """Multiply chosen MLP neurons (activations entering the down-projection) by ``factor``."""

    def __init__(self, host: Host, neurons: Mapping[int, Sequence[int]], factor: float) -> None:
        super().__init__(host)
        if not isinstance(neurons, Mapping) or not neurons:
            raise ValueError("neurons must be a non-empty mapping {block: [neuron indices]}")
        layout = host.layout
        self.neurons: dict[int, list[int]] = {}
        for block, idx in neurons.items():
            (b,) = normalize_blocks(layout, [block], "neurons")
            width = layout.n_neurons(b)
            ids = sorted({int(i) for i in idx})
            bad = [i for i in ids if not 0 <= i < width]
            if bad or not ids:
                raise ValueError(f"neurons[{block}]: indices {bad or '[]'} are outside 0..{width - 1}")
            self.neurons[b] = ids
        self.factor = float(factor)

    def _install(self) -> list[RemovableHandle]:
        from valuescope.models.hooks import hook_input

        handles = []
        for b, ids in self.neurons.items():
            index = torch.tensor(ids)

            def fn(x: torch.Tensor, index: torch.Tensor = index) -> torch.Tensor:
                out = x.clone()
                i = index.to(x.device)
                out[..., i] = out[..., i] * self.factor
                return out

            handles.append(hook_input(self.host.layout.mlp_down(b), fn))
        return handles

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "scale_neurons",
            "neurons": {str(b): ids for b, ids in sorted(self.neurons.items())},
            "factor": self.factor,
        }
