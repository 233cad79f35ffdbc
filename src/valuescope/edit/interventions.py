"""Interventions as re-enterable context managers that nest and always remove their hooks.

Each one describes itself (``fingerprint``) so that caches keyed on active interventions never
serve values computed under a different edit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from valuescope.models.hooks import hook_output, hook_read_point, normalize_blocks, normalize_read_points
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
        self.position_free = self.positions == "all"

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
        return self.alphas[:, None] * self.host.mean_residual_norm(read_point) * unit

    def _install(self) -> list[RemovableHandle]:
        handles = []
        for rp in self.layers:
            delta = self.added(rp)

            def fn(h: torch.Tensor, delta: torch.Tensor = delta) -> torch.Tensor:
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

            handles.append(hook_read_point(self.host.layout, rp, fn))
        return handles

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "steer_each",
            "vectors": _tensor_digest(self.vectors),
            "alphas": _tensor_digest(self.alphas),
            "layers": self.layers,
            "raw": self.raw,
        }


Center = float | Mapping[int, float] | Literal["reference"] | None


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


class Ablate(Intervention):
    """Project a direction out of the residual stream (and optionally out of every sublayer output).

    ``center`` is the value the component along the direction is set to: None or 0 for a plain
    projection, a number for every read point, ``{read_point: value}``, or ``"reference"`` for the
    component's mean over the neutral reference text at each read point (mean ablation: the
    variation along the direction goes, its typical offset stays). ``keep_special`` leaves the
    positions of special tokens (BOS, chat markers) untouched: in several families the BOS position
    holds massive activations that act as an attention sink, and editing it damages the model for
    reasons that have nothing to do with the direction. Sublayer outputs are always projected to 0.
    """

    def __init__(
        self,
        host: Host,
        direction: object,
        layers: object,
        sublayers: bool = False,
        center: Center = None,
        keep_special: bool = False,
    ) -> None:
        super().__init__(host)
        d = _as_vector(host, direction, "direction")
        norm = float(d.norm())
        if norm == 0.0:
            raise ValueError("direction is all zeros; ablation needs a non-zero vector")
        self.unit = d / norm
        self.layers = normalize_read_points(host.layout, layers)
        self.sublayers = sublayers
        self.centers = self._centers(center)
        self.keep_special = bool(keep_special)
        self._special = SpecialPositions(host)

    def _centers(self, center: Center) -> dict[int, float]:
        if center is None:
            return {rp: 0.0 for rp in self.layers}
        if isinstance(center, str):
            if center != "reference":
                raise ValueError(
                    f"center={center!r}: use None, a number, {{read_point: value}} or 'reference'"
                )
            return {rp: float(self.host.mean_residual(rp).float() @ self.unit) for rp in self.layers}
        if isinstance(center, Mapping):
            points = {
                rp: v
                for rp, v in zip(
                    normalize_read_points(self.host.layout, list(center)), center.values(), strict=True
                )
            }
            missing = [rp for rp in self.layers if rp not in points]
            if missing:
                raise ValueError(
                    f"center has no value for read points {missing}; give one per ablated read point"
                )
            return {rp: float(points[rp]) for rp in self.layers}
        if isinstance(center, bool) or not isinstance(center, int | float):
            raise TypeError(
                f"center must be None, a number, a mapping or 'reference', not {type(center).__name__}"
            )
        return {rp: float(center) for rp in self.layers}

    def _project(self, h: torch.Tensor, center: float) -> torch.Tensor:
        u = self.unit.to(device=h.device, dtype=h.dtype)
        out = h - ((h @ u) - center)[..., None] * u
        return self._special.keep(h, out)

    def _install(self) -> list[RemovableHandle]:
        layout = self.host.layout
        handles = []
        if self.keep_special:
            handles.append(self._special.install())
        for rp in self.layers:

            def fn(h: torch.Tensor, c: float = self.centers[rp]) -> torch.Tensor:
                return self._project(h, c)

            handles.append(hook_read_point(layout, rp, fn))
        if self.sublayers:
            for b in range(layout.n_layers):
                handles.append(hook_output(layout.attn_out(b), lambda h: self._project(h, 0.0)))
                handles.append(hook_output(layout.mlp_out(b), lambda h: self._project(h, 0.0)))
        return handles

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._special.mask = None

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "ablate",
            "direction": _tensor_digest(self.unit),
            "layers": self.layers,
            "sublayers": self.sublayers,
        }
        if any(self.centers.values()):
            out["centers"] = [round(self.centers[rp], 6) for rp in self.layers]
        if self.keep_special:
            out["keep_special"] = True
        return out


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


class EditSubspace(Intervention):
    """Apply a linear map inside a subspace of the residual stream, leaving its complement untouched.

    With orthonormal ``basis`` rows B (k, d_model), ``matrix`` M (k, k) and ``center`` c, every
    position's residual h at ``layers`` becomes ``h + ((h - c) B^T (M - I)^T) B``: its coordinates in
    the subspace, measured from c, are replaced by M times them. M = I is the identity edit.
    ``keep_special`` (default) leaves special-token positions (BOS, chat markers) as they were: their
    residuals are far from any text's, and editing them damages the model for no reason of the edit's.
    """

    def __init__(
        self,
        host: Host,
        basis: object,
        matrix: object,
        layers: object,
        center: object | None = None,
        keep_special: bool = True,
    ) -> None:
        super().__init__(host)
        d_model = host.layout.d_model
        b = torch.as_tensor(basis, dtype=torch.float32).detach()
        if b.ndim != 2 or b.shape[1] != d_model or b.shape[0] < 1:
            raise ValueError(f"basis has shape {tuple(b.shape)}; it must be (k, {d_model}) with k >= 1")
        gram = b @ b.T
        if not torch.allclose(gram, torch.eye(b.shape[0]), atol=1e-4):
            raise ValueError(
                "basis rows must be orthonormal (orthonormalise them, e.g. with torch.linalg.qr)"
            )
        m = torch.as_tensor(matrix, dtype=torch.float32).detach()
        if m.shape != (b.shape[0], b.shape[0]):
            raise ValueError(f"matrix has shape {tuple(m.shape)}; it must be ({b.shape[0]}, {b.shape[0]})")
        if not (torch.isfinite(b).all() and torch.isfinite(m).all()):
            raise ValueError("basis and matrix must be finite")
        self.basis, self.matrix = b, m
        self.center = torch.zeros(d_model) if center is None else _as_vector(host, center, "center")
        self.layers = normalize_read_points(host.layout, layers)
        self._delta = (m - torch.eye(b.shape[0])).T  # (k, k): z -> z (M - I)^T
        self.keep_special = bool(keep_special)
        self._special = SpecialPositions(host)

    def edit_norm(self) -> float:
        """Frobenius norm of M - I: the size of the edit (random controls match it)."""
        return float(self._delta.norm())

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """The edited residuals (any leading shape, last dimension d_model)."""
        b = self.basis.to(device=h.device, dtype=h.dtype)
        z = (h - self.center.to(device=h.device, dtype=h.dtype)) @ b.T
        out = h + (z @ self._delta.to(device=h.device, dtype=h.dtype)) @ b
        return self._special.keep(h, out)

    def _install(self) -> list[RemovableHandle]:
        handles = [self._special.install()] if self.keep_special else []
        handles += [hook_read_point(self.host.layout, rp, self.apply) for rp in self.layers]
        return handles

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._special.mask = None

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "edit_subspace",
            "basis": _tensor_digest(self.basis),
            "matrix": _tensor_digest(self.matrix),
            "center": _tensor_digest(self.center),
            "layers": self.layers,
            "keep_special": self.keep_special,
        }
