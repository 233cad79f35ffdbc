"""A sparse autoencoder on residual-stream vectors: ``SAE``, an encoder ``W_enc`` (d_in, d_sae) and ``b_enc``,
a decoder ``W_dec`` (d_sae, d_in) and ``b_dec``, with one of four activations (``topk``, ``batchtopk``,
``relu``, ``jumprelu``), all as in SAELens; ``evaluate_sae`` measures how well it reconstructs rows.
Training is in :mod:`valuescope.studies.indifference.sae_training`; ``save_sae`` / ``load_sae`` (a folder
with ``cfg.json`` and ``sae_weights.safetensors`` in the layout SAELens reads and writes) are in
:mod:`valuescope.studies.indifference.sae_io`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np
import torch
from torch import Tensor

Architecture = Literal["topk", "batchtopk", "relu", "jumprelu"]
EVAL_BATCH = 4096
"""Rows encoded at a time when an SAE is evaluated."""


@dataclass(eq=False)
class SAE:
    """A sparse autoencoder: ``encode(x) -> (n, d_sae)`` feature activations, ``decode(f) -> (n, d_in)``.

    pre = (x - b_dec if ``apply_b_dec_to_input`` else x) @ W_enc + b_enc, then
    ``topk``: the k largest of relu(pre) per row; ``relu``: relu(pre); ``jumprelu``: relu(pre) where
    pre > threshold, else 0; ``batchtopk``: like jumprelu with the threshold estimated in training (in
    training it keeps the k * n largest activations of a batch of n). ``metadata`` holds JSON values:
    hook_name, read_point, model_name, training record, normalisation.
    """

    W_enc: Tensor
    b_enc: Tensor
    W_dec: Tensor
    b_dec: Tensor
    architecture: Architecture = "topk"
    k: int | None = None
    threshold: Tensor | None = None
    apply_b_dec_to_input: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in get_args(Architecture):
            raise ValueError(
                f"architecture must be one of {get_args(Architecture)}, got {self.architecture!r}"
            )
        if self.W_enc.ndim != 2:
            raise ValueError(f"W_enc must be 2-D (d_in, d_sae), got shape {tuple(self.W_enc.shape)}")
        d_in, d_sae = self.W_enc.shape
        _check_shape(self.b_enc, (d_sae,), "b_enc")
        _check_shape(self.W_dec, (d_sae, d_in), "W_dec")
        _check_shape(self.b_dec, (d_in,), "b_dec")
        if self.architecture in ("topk", "batchtopk"):
            if self.k is None or int(self.k) != self.k or not 1 <= self.k <= d_sae:
                raise ValueError(
                    f"a {self.architecture} SAE needs an integer k in [1, {d_sae}], got {self.k}"
                )
            self.k = int(self.k)
        if self.architecture in ("jumprelu", "batchtopk"):
            if self.threshold is None:
                raise ValueError(f"a {self.architecture} SAE needs a threshold tensor of shape ({d_sae},)")
            _check_shape(self.threshold, (d_sae,), "threshold")

    @property
    def d_in(self) -> int:
        return int(self.W_enc.shape[0])

    @property
    def d_sae(self) -> int:
        return int(self.W_enc.shape[1])

    def pre_activations(self, x: Tensor | np.ndarray) -> Tensor:
        """(..., d_sae) encoder pre-activations of ``x`` (..., d_in)."""
        xt = as_input(x, self.d_in)
        if self.apply_b_dec_to_input:
            xt = xt - self.b_dec
        return xt @ self.W_enc + self.b_enc

    def encode(self, x: Tensor | np.ndarray) -> Tensor:
        """(..., d_sae) feature activations of raw inputs ``x`` (..., d_in)."""
        return _activate(self.pre_activations(x), self.architecture, self.k, self.threshold)

    def decode(self, f: Tensor) -> Tensor:
        """(..., d_in) reconstruction ``f @ W_dec + b_dec`` from feature activations (..., d_sae)."""
        if f.shape[-1] != self.d_sae:
            raise ValueError(f"feature activations have width {f.shape[-1]}, this SAE has {self.d_sae}")
        return f.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        """Reconstruction of ``x``: ``decode(encode(x))``."""
        return self.decode(self.encode(x))

    __call__ = forward

    def directions(self) -> Tensor:
        """(d_sae, d_in) decoder rows scaled to unit norm: each feature's direction in residual space."""
        return self.W_dec / self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _check_shape(t: Tensor, shape: tuple[int, ...], name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {shape}")


def as_input(x: Tensor | np.ndarray, d_in: int, name: str = "x") -> Tensor:
    """``x`` as a float32 tensor of shape (..., ``d_in``); ValueError naming ``name`` otherwise."""
    xt = torch.as_tensor(x)
    if xt.ndim == 0 or xt.shape[-1] != d_in:
        raise ValueError(f"{name} must have shape (..., {d_in}), got {tuple(xt.shape)}")
    if not xt.is_floating_point():
        xt = xt.float()
    return xt.to(torch.float32)


def topk_activations(pre: Tensor, k: int) -> Tensor:
    """The k largest of relu(pre) along the last axis; the rest zero."""
    top = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())


def batch_topk_activations(pre: Tensor, k: int) -> Tensor:
    """The k * n largest of relu(pre) over a whole (n, d_sae) batch; the rest zero."""
    acts = pre.relu()
    flat = acts.reshape(-1)
    top = flat.topk(min(k * acts.shape[0], flat.numel()), sorted=False)
    return torch.zeros_like(flat).scatter(0, top.indices, top.values).reshape(acts.shape)


def _activate(pre: Tensor, architecture: str, k: int | None, threshold: Tensor | None) -> Tensor:
    if architecture == "topk":
        return topk_activations(pre, cast(int, k))
    if architecture == "relu":
        return pre.relu()
    return pre.relu() * (pre > cast(Tensor, threshold))  # jumprelu, and batchtopk at inference


def evaluate_sae(sae: SAE, X: Tensor | np.ndarray, *, batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """Reconstruction quality of ``sae`` on rows ``X`` (n, d_in).

    mse: mean squared error per entry; fve: fraction of variance explained, 1 - SSE / sum ||x - mean(X)||^2;
    l0: mean number of active features per row; dead_fraction: share of features active on no row.
    """
    return evaluate_with_fired(sae, X, batch_size)[0]


def evaluate_with_fired(sae: SAE, X: Tensor | np.ndarray, batch_size: int) -> tuple[dict[str, float], Tensor]:
    """``evaluate_sae``'s numbers and the (d_sae,) mask of features active on some row."""
    xt = as_input(X, sae.d_in, "X")
    if xt.ndim != 2 or len(xt) == 0:
        raise ValueError(f"X must be a non-empty (n, {sae.d_in}) matrix, got shape {tuple(xt.shape)}")
    mean = xt.double().mean(0)
    sse = sst = l0 = 0.0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool)
    with torch.no_grad():
        for start in range(0, len(xt), batch_size):
            xb = xt[start : start + batch_size]
            f = sae.encode(xb)
            active = f != 0
            fired |= active.any(0)
            l0 += float(active.sum())
            sse += float((sae.decode(f) - xb).double().pow(2).sum())
            sst += float((xb.double() - mean).pow(2).sum())
    stats = {
        "n": float(len(xt)),
        "mse": sse / xt.numel(),
        "fve": 1.0 - sse / sst if sst > 0 else float("nan"),
        "l0": l0 / len(xt),
        "dead_fraction": 1.0 - float(fired.float().mean()),
    }
    return stats, fired
