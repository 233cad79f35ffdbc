"""Edits that remove or reshape what the model represents: ablate a direction (``Ablate``), scale
chosen MLP neurons (``ScaleNeurons``), replace the coordinates inside a subspace (``EditSubspace``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import torch
from torch.utils.hooks import RemovableHandle

from valuescope.edit.interventions import Host, Intervention, SpecialPositions, as_vector, tensor_digest
from valuescope.models.hooks import (
    HiddenFn,
    hook_output,
    hook_read_point,
    normalize_blocks,
    normalize_read_points,
)

Center = float | Mapping[int, float] | Literal["reference"] | None


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
        d = as_vector(host, direction, "direction")
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

    def _read_point_functions(self) -> dict[int, HiddenFn]:
        return {rp: partial(self._project, center=self.centers[rp]) for rp in self.layers}

    def residual_functions(self) -> dict[int, HiddenFn] | None:
        return None if self.sublayers else self._read_point_functions()

    def _helper_hooks(self) -> list[RemovableHandle]:
        return [self._special.install()] if self.keep_special else []

    def _install(self) -> list[RemovableHandle]:
        layout = self.host.layout
        handles = self._helper_hooks()
        handles += [hook_read_point(layout, rp, fn) for rp, fn in self._read_point_functions().items()]
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
            "direction": tensor_digest(self.unit),
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
        self.center = torch.zeros(d_model) if center is None else as_vector(host, center, "center")
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

    def residual_functions(self) -> dict[int, HiddenFn]:
        return {rp: self.apply for rp in self.layers}

    def _helper_hooks(self) -> list[RemovableHandle]:
        return [self._special.install()] if self.keep_special else []

    def _install(self) -> list[RemovableHandle]:
        handles = self._helper_hooks()
        handles += [hook_read_point(self.host.layout, rp, fn) for rp, fn in self.residual_functions().items()]
        return handles

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._special.mask = None

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "edit_subspace",
            "basis": tensor_digest(self.basis),
            "matrix": tensor_digest(self.matrix),
            "center": tensor_digest(self.center),
            "layers": self.layers,
            "keep_special": self.keep_special,
        }
