"""Steering edits: add a vector to the residual stream at chosen read points, one vector for every row
(``Steer``) or one per prompt of a batched generation (``SteerEach``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from valuescope.edit.interventions import Host, Intervention, Positions, as_vector, tensor_digest
from valuescope.models.hooks import HiddenFn, hook_read_point, normalize_read_points


def _hook_added(
    host: Host,
    read_points: Sequence[int],
    added: Callable[[int], torch.Tensor],
    add: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[RemovableHandle]:
    """One hook per read point that returns ``add(added(read_point), h)``, the vector computed once here."""
    return [hook_read_point(host.layout, rp, partial(add, added(rp))) for rp in read_points]


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
        self.vector = as_vector(host, vector, "vector")
        if not raw and float(self.vector.norm()) == 0.0:
            raise ValueError("vector is all zeros; a steering direction needs a non-zero vector")
        self.layers = normalize_read_points(host.layout, layers)
        self.alpha = float(alpha)
        if isinstance(positions, str) and positions not in ("all", "last"):
            raise ValueError(f"positions={positions!r}: use 'all', 'last' or a list of token positions")
        self.positions = positions if isinstance(positions, str) else [int(p) for p in positions]
        self.raw = raw
        self.position_free = self.positions == "all"

    def added(self, read_point: int) -> torch.Tensor:
        """The exact vector added at ``read_point``."""
        if self.raw:
            return self.alpha * self.vector
        unit = self.vector / self.vector.norm()
        result: torch.Tensor = self.alpha * self.host.mean_residual_norm(read_point) * unit
        return result

    def _add(self, delta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``h`` with ``delta`` added at the steered positions."""
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

    def _install(self) -> list[RemovableHandle]:
        return _hook_added(self.host, self.layers, self.added, self._add)

    def residual_functions(self) -> dict[int, HiddenFn] | None:
        if self.positions != "all":  # the positions of a batch row depend on its padding
            return None
        return {rp: partial(self._add, self.added(rp)) for rp in self.layers}

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "steer",
            "vector": tensor_digest(self.vector),
            "layers": self.layers,
            "alpha": self.alpha,
            "positions": self.positions,
            "raw": self.raw,
            "added_norms": [round(float(self.added(rp).norm()), 6) for rp in self.layers],
        }


class SteerEach(Intervention):
    """Steer each prompt of one ``generate`` call with its own vector: row i of ``vectors`` (one per
    prompt, in the caller's order) times ``alphas[i]`` (in units of the mean residual norm unless
    ``raw``), added at every position of that prompt. Many steering vectors then share one batched
    generation instead of one small batch each. Only ``generate`` says which prompt each batch row
    is (``host.batch_items``); anything else refuses to run under it."""

    position_free = False

    def __init__(
        self,
        host: Host,
        vectors: object,
        layers: object,
        alphas: float | Sequence[float] = 1.0,
        raw: bool = False,
    ) -> None:
        super().__init__(host)
        v = (
            torch.as_tensor(vectors, dtype=torch.float32)
            if not isinstance(vectors, torch.Tensor)
            else vectors
        )
        d_model = host.layout.d_model
        if v.ndim != 2 or v.shape[1] != d_model or v.shape[0] == 0:
            raise ValueError(f"vectors has shape {tuple(v.shape)}; it must be (n_prompts, {d_model})")
        if not torch.isfinite(v).all():
            raise ValueError("vectors contains NaN or infinite values")
        a = (
            torch.full((v.shape[0],), float(alphas))
            if isinstance(alphas, int | float)
            else torch.tensor([float(x) for x in alphas])
        )
        if a.shape[0] != v.shape[0]:
            raise ValueError(
                f"{a.shape[0]} alphas for {v.shape[0]} vectors; give one per prompt (or one float)"
            )
        if not raw and bool((v.norm(dim=1) == 0).any()):
            raise ValueError("a row of vectors is all zeros; every prompt needs a non-zero direction")
        self.vectors, self.alphas = v.detach().float(), a
        self.layers = normalize_read_points(host.layout, layers)
        self.raw = raw

    def added(self, read_point: int) -> torch.Tensor:
        """(n_prompts, d_model): the exact vector added to each prompt at ``read_point``."""
        if self.raw:
            return self.alphas[:, None] * self.vectors
        unit = self.vectors / self.vectors.norm(dim=1, keepdim=True)
        result: torch.Tensor = self.alphas[:, None] * self.host.mean_residual_norm(read_point) * unit
        return result

    def prompt_key(self, item: int) -> int:
        return item

    def _add(self, delta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``h`` with row i of ``delta`` added at every position of the batch row that is prompt i."""
        items = getattr(self.host, "batch_items", None)
        if items is None or len(items) != h.shape[0]:
            raise RuntimeError(
                "SteerEach works only inside lm.generate (which says which prompt each row is); "
                "use lm.steer for ratings and readouts"
            )
        if max(items) >= delta.shape[0]:
            raise RuntimeError(
                f"generate has {max(items) + 1}+ prompts but SteerEach {delta.shape[0]} vectors"
            )
        return h + delta[items].to(device=h.device, dtype=h.dtype)[:, None, :]

    def _install(self) -> list[RemovableHandle]:
        return _hook_added(self.host, self.layers, self.added, self._add)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "steer_each",
            "vectors": tensor_digest(self.vectors),
            "alphas": tensor_digest(self.alphas),
            "layers": self.layers,
            "raw": self.raw,
        }
