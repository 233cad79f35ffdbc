"""Sparse autoencoders on residual-stream vectors: the model and TopK training.

- ``SAE``: encoder ``W_enc`` (d_in, d_sae) and ``b_enc``, decoder ``W_dec`` (d_sae, d_in) and ``b_dec``, with
  one of four activations (``topk``, ``batchtopk``, ``relu``, ``jumprelu``), all as in SAELens.
- ``train_sae``: the TopK recipe of Gao et al. 2024 (b_dec at the geometric median, unit-norm decoder rows
  with the parallel gradient removed, encoder initialised as the decoder's transpose, AuxK loss on dead
  latents), or BatchTopK (Bussmann et al. 2024), on inputs rescaled so that E||x|| = sqrt(d_in). The scale is
  folded into the weights at the end, so every ``SAE`` takes raw residuals.
- ``save_sae`` / ``load_sae`` (in :mod:`valuescope.analysis.sae_io`): a folder with
  ``cfg.json`` and ``sae_weights.safetensors`` in the layout SAELens reads and writes.

Training is deterministic for a given seed (its own ``torch.Generator``; the global RNG is untouched).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

__all__ = [
    "SAE",
    "Architecture",
    "TrainReport",
    "evaluate_sae",
    "train_sae",
]

Architecture = Literal["topk", "batchtopk", "relu", "jumprelu"]

_CHUNK = 4096


# ----------------------------------------------------------------------------------------------------------
# the model


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
        xt = _as_input(x, self.d_in)
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


def _as_input(x: Tensor | np.ndarray, d_in: int, name: str = "x") -> Tensor:
    xt = torch.as_tensor(x)
    if xt.ndim == 0 or xt.shape[-1] != d_in:
        raise ValueError(f"{name} must have shape (..., {d_in}), got {tuple(xt.shape)}")
    if not xt.is_floating_point():
        xt = xt.float()
    return xt.to(torch.float32)


def _topk(pre: Tensor, k: int) -> Tensor:
    top = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())


def _batch_topk(pre: Tensor, k: int) -> Tensor:
    """The k * n largest of relu(pre) over a whole (n, d_sae) batch; the rest zero."""
    acts = pre.relu()
    flat = acts.reshape(-1)
    top = flat.topk(min(k * acts.shape[0], flat.numel()), sorted=False)
    return torch.zeros_like(flat).scatter(0, top.indices, top.values).reshape(acts.shape)


def _activate(pre: Tensor, architecture: str, k: int | None, threshold: Tensor | None) -> Tensor:
    if architecture == "topk":
        return _topk(pre, cast(int, k))
    if architecture == "relu":
        return pre.relu()
    return pre.relu() * (pre > cast(Tensor, threshold))  # jumprelu, and batchtopk at inference


# ----------------------------------------------------------------------------------------------------------
# evaluation


def evaluate_sae(sae: SAE, X: Tensor | np.ndarray, *, batch_size: int = _CHUNK) -> dict[str, float]:
    """Reconstruction quality of ``sae`` on rows ``X`` (n, d_in).

    mse: mean squared error per entry; fve: fraction of variance explained, 1 - SSE / sum ||x - mean(X)||^2;
    l0: mean number of active features per row; dead_fraction: share of features active on no row.
    """
    return _evaluate(sae, X, batch_size)[0]


def _evaluate(sae: SAE, X: Tensor | np.ndarray, batch_size: int) -> tuple[dict[str, float], Tensor]:
    """``evaluate_sae``'s numbers and the (d_sae,) mask of features active on some row."""
    xt = _as_input(X, sae.d_in, "X")
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


# ----------------------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainReport:
    """What ``train_sae`` did and how well the SAE reconstructs the held-out rows.

    tokens_trained counts rows seen, repeats included; n_unique_tokens the distinct training rows.
    mse, fve and l0 are on the held-out rows (raw units); dead_fraction is the share of features active
    neither on the held-out rows nor in the last ``dead_after`` training tokens. loss_curve holds
    (step, mean training loss over the preceding steps): the fraction of variance unexplained of the
    batch, plus the AuxK term.
    """

    architecture: str
    d_in: int
    d_sae: int
    k: int
    steps: int
    batch_size: int
    lr: float
    tokens_trained: int
    n_unique_tokens: int
    n_heldout: int
    input_scale: float
    mse: float
    fve: float
    l0: float
    dead_fraction: float
    seconds: float
    loss_curve: list[tuple[int, float]]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON values."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["loss_curve"] = [list(p) for p in self.loss_curve]
        return out


def default_lr(d_sae: int) -> float:
    """Adam learning rate for ``train_sae``: 8 x Gao et al.'s 2e-4 / sqrt(d_sae / 2^14), at most 1e-2.

    The factor 8 suits the short runs (a few hundred steps) this package trains on small stimulus sets:
    on 20k Gemma-3-270M residuals (d_sae 4096, k 32) 200 steps reach the held-out FVE that 350 steps
    reach at 4 x.
    """
    return min(1e-2, 1.6e-3 / math.sqrt(d_sae / 2**14))


def train_sae(
    X: Tensor | np.ndarray,
    *,
    d_sae: int,
    k: int,
    architecture: Literal["topk", "batchtopk"] = "topk",
    steps: int | None = None,
    epochs: float = 20.0,
    batch_size: int = 1024,
    lr: float | None = None,
    seed: int = 0,
    aux_k: int | None = None,
    aux_coef: float = 1 / 32,
    dead_after: int = 10_000,
    heldout: float = 0.1,
    normalize: bool = True,
    metadata: dict[str, Any] | None = None,
    log_every: int = 50,
    progress: bool = False,
    num_threads: int | None = None,
) -> tuple[SAE, TrainReport]:
    """Train a TopK (or BatchTopK) SAE with ``d_sae`` features on the rows of ``X`` (n_tokens, d_in), on CPU.

    A seeded ``heldout`` share of rows is set aside for the report. Training runs ``steps`` Adam steps of
    ``batch_size`` rows (default: ``epochs`` passes over the training rows), ``lr`` defaulting to
    ``default_lr(d_sae)``, with a linear warm-up over the first 5% of steps and decay to 0 over the last
    20%. A latent is dead once it has not fired for ``dead_after`` tokens; the AuxK loss (weight
    ``aux_coef``) has the ``aux_k`` (default d_in // 2) most active dead latents reconstruct the residual.
    ``metadata`` (hook_name, read_point, model_name, ...) is stored on the SAE with the training record.
    ``num_threads`` sets torch's intra-op threads while training (restored after): 1 is often much faster
    on small models or on cores that other processes share.
    """
    if architecture not in ("topk", "batchtopk"):
        raise ValueError(
            f"train_sae trains 'topk' and 'batchtopk' SAEs, got {architecture!r}; relu and jumprelu SAEs "
            "can be loaded (load_sae) but not trained here"
        )
    xt = torch.as_tensor(X)
    if xt.ndim != 2 or xt.shape[1] == 0:
        raise ValueError(f"X must be 2-D (n_tokens, d_in), got shape {tuple(xt.shape)}")
    xt = _as_input(xt.detach().cpu(), xt.shape[1], "X")
    if not torch.isfinite(xt).all():
        raise ValueError(f"X has {int((~torch.isfinite(xt)).sum())} NaN or infinite entries; drop them first")
    n, d_in = xt.shape
    for value, name in ((d_sae, "d_sae"), (k, "k"), (batch_size, "batch_size"), (log_every, "log_every")):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if k > d_sae:
        raise ValueError(f"k={k} exceeds d_sae={d_sae}")
    if not 0.0 <= heldout < 0.5:
        raise ValueError(f"heldout must be in [0, 0.5), got {heldout}")
    if dead_after < 1:
        raise ValueError(f"dead_after must be >= 1 token, got {dead_after}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    n_held = round(heldout * n)
    train_x, held_x = xt[perm[n_held:]], xt[perm[:n_held]]
    if len(train_x) < 2 or (heldout > 0 and n_held < 1):
        raise ValueError(f"X has {n} rows: too few to train on and hold out {heldout:.0%}")
    batch_size = min(batch_size, len(train_x))
    if steps is None:
        if epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {epochs}")
        steps = max(1, math.ceil(epochs * len(train_x) / batch_size))
    elif int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    lr = default_lr(d_sae) if lr is None else float(lr)
    aux_k = d_in // 2 if aux_k is None else aux_k
    with _intra_op_threads(num_threads):
        t0 = time.perf_counter()

        mean_norm = float(train_x.norm(dim=1).mean())
        if normalize and mean_norm == 0:
            raise ValueError("every training row of X is zero; there is nothing to reconstruct")
        scale = math.sqrt(d_in) / mean_norm if normalize else 1.0
        train_x = train_x * scale

        w_dec = torch.randn(d_sae, d_in, generator=gen)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        # the encoder is trained as E = W_enc.T (d_sae, d_in), so that its rows can be gathered
        params = {
            "E": w_dec.clone(),
            "b_enc": torch.zeros(d_sae),
            "W_dec": w_dec,
            "b_dec": _geometric_median(train_x[:16384]),
        }
        for p in params.values():
            p.requires_grad_(True)
        W_dec = params["W_dec"]
        opt = torch.optim.Adam(list(params.values()), lr=lr, betas=(0.9, 0.999), eps=6.25e-10, fused=True)
        warm, decay_from = max(1, steps // 20), int(steps * 0.8)
        since_fired = torch.zeros(d_sae, dtype=torch.long)
        curve: list[tuple[int, float]] = []
        window: list[float] = []
        order, pos = torch.randperm(len(train_x), generator=gen), 0
        tokens = 0

        for step in tqdm(range(steps), disable=not progress, desc="train_sae"):
            if pos + batch_size > len(order):
                order, pos = torch.randperm(len(train_x), generator=gen), 0
            xb = train_x[order[pos : pos + batch_size]]
            pos += batch_size
            tokens += len(xb)
            factor = min(1.0, (step + 1) / warm, (steps - step) / max(1, steps - decay_from))
            for group in opt.param_groups:
                group["lr"] = lr * factor
            dead = since_fired >= dead_after
            loss, fired = _batch_loss(xb, params, architecture, k, dead, aux_k, aux_coef)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                g = cast(Tensor, W_dec.grad)
                g -= (g * W_dec).sum(1, keepdim=True) * W_dec
                opt.step()
                W_dec /= W_dec.norm(dim=1, keepdim=True)
                since_fired += len(xb)
                since_fired[fired] = 0
            window.append(float(loss.detach()))
            if (step + 1) % log_every == 0 or step + 1 == steps:
                curve.append((step + 1, float(np.mean(window))))
                window = []

        with torch.no_grad():
            weights = {name: p.detach().clone() for name, p in params.items()}
            weights["W_enc"] = weights.pop("E").T.contiguous()
            threshold = None
            if architecture == "batchtopk":
                threshold = torch.full((d_sae,), _batch_threshold(train_x, weights, k, batch_size))
            # fold the input scale: pre(s x) and decode / s equal the raw-unit SAE below
            sae = SAE(
                W_enc=weights["W_enc"] * scale,
                b_enc=weights["b_enc"],
                W_dec=weights["W_dec"] / scale,
                b_dec=weights["b_dec"] / scale,
                architecture=architecture,
                k=k,
                threshold=threshold,
                apply_b_dec_to_input=True,
            )
        record = {
            "trained_by": "valuescope.analysis.sae.train_sae",
            "tokens_trained": tokens,
            "n_unique_tokens": len(train_x),
            "steps": steps,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "normalization": {
                "method": "expected_average_only_in" if normalize else "none",
                "input_scale": scale,
                "folded": True,
            },
        }
        sae.metadata = {**(metadata or {}), "training": record}
        ev, fired_eval = _evaluate(sae, held_x if n_held else train_x / scale, _CHUNK)
        dead_final = (~fired_eval) & (since_fired >= min(dead_after, tokens))
        report = TrainReport(
            architecture=architecture,
            d_in=d_in,
            d_sae=d_sae,
            k=k,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            tokens_trained=tokens,
            n_unique_tokens=len(train_x),
            n_heldout=n_held,
            input_scale=scale,
            mse=ev["mse"],
            fve=ev["fve"],
            l0=ev["l0"],
            dead_fraction=float(dead_final.float().mean()),
            seconds=time.perf_counter() - t0,
            loss_curve=curve,
        )
        return sae, report


def _batch_loss(
    xb: Tensor,
    params: dict[str, Tensor],
    architecture: str,
    k: int,
    dead: Tensor,
    aux_k: int,
    aux_coef: float,
) -> tuple[Tensor, Tensor]:
    """Training loss of one batch and the latents that fired in it.

    loss = ||x - x_hat||^2 / ||x - mean(x)||^2 (the batch's fraction of variance unexplained), plus, when
    latents are dead, aux_coef * min(n_dead / aux_k, 1) * the same ratio for the AuxK reconstruction of
    the residual x - x_hat from the aux_k most active dead latents (Gao et al. 2024, appendix A.2).
    """
    E, b_enc, W_dec, b_dec = params["E"], params["b_enc"], params["W_dec"], params["b_dec"]
    n = len(xb)
    with torch.no_grad():
        pre = torch.addmm(b_enc, xb - b_dec, E.T)
    rows, cols, picked = _select(pre, k, per_row=architecture == "topk")
    vals = _SparseEncode.apply(xb, E, b_enc, b_dec, rows, cols, picked).relu()
    err = xb - (_SparseDecode.apply(vals, W_dec, rows, cols, n) + b_dec)
    loss = err.pow(2).sum() / (xb - xb.mean(0)).pow(2).sum().clamp_min(1e-12)
    n_dead = int(dead.sum())
    if n_dead and aux_coef > 0 and aux_k > 0:
        dead_idx = torch.nonzero(dead).flatten()
        r2, local, p2 = _select(pre[:, dead_idx], min(aux_k, n_dead), per_row=True)
        c2 = dead_idx[local]
        v2 = _SparseEncode.apply(xb, E, b_enc, b_dec, r2, c2, p2).relu()
        e = err.detach()
        e_hat = _SparseDecode.apply(v2, W_dec, r2, c2, n)
        aux = (e_hat - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum().clamp_min(1e-12)
        loss = loss + aux_coef * min(n_dead / aux_k, 1.0) * aux
    return loss, cols[vals.detach() > 0]


def _select(pre: Tensor, k: int, *, per_row: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, cols, values) of the k largest entries of each row, or the k * n largest of the batch.

    Rows come out sorted (ascending), as the sparse products below require.
    """
    n, m = pre.shape
    if per_row:
        top = pre.topk(k, dim=1, sorted=False)
        return torch.arange(n).repeat_interleave(k), top.indices.reshape(-1), top.values.reshape(-1)
    flat = pre.reshape(-1)
    where = flat.topk(min(k * n, flat.numel()), sorted=False).indices.sort().values
    return where // m, where % m, flat[where]


def _spmm(rows: Tensor, cols: Tensor, vals: Tensor, shape: tuple[int, int], dense: Tensor) -> Tensor:
    """S @ dense for the sparse S of ``shape`` with entries ``vals`` at (rows, cols), through CSR."""
    if len(rows) > 1 and bool((rows[1:] < rows[:-1]).any()):
        order = rows.argsort(stable=True)
        rows, cols, vals = rows[order], cols[order], vals[order]
    crow = torch.zeros(shape[0] + 1, dtype=torch.long)
    crow[1:] = torch.bincount(rows, minlength=shape[0]).cumsum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        sparse = torch.sparse_csr_tensor(crow, cols, vals, shape, check_invariants=False)
    return sparse @ dense


class _SparseEncode(torch.autograd.Function):
    """The selected pre-activations ((x - b_dec) @ E.T + b_enc)[rows, cols], given as ``picked``.

    The forward value is computed by the caller (one dense product, no graph); the backward touches
    only the selected entries, O(nnz * d) instead of two dense (n, d_in, d_sae) products.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        E: Tensor,
        b_enc: Tensor,
        b_dec: Tensor,
        rows: Tensor,
        cols: Tensor,
        picked: Tensor,
    ) -> Tensor:
        ctx.save_for_backward(x, E, b_dec, rows, cols)
        return picked.clone()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, E, b_dec, rows, cols = ctx.saved_tensors
        m = E.shape[0]
        g_b_enc = torch.zeros(m, dtype=g.dtype).index_add_(0, cols, g)
        g_E = _spmm(cols, rows, g, (m, len(x)), x - b_dec)
        return None, g_E, g_b_enc, -(g_b_enc @ E), None, None, None


class _SparseDecode(torch.autograd.Function):
    """sum over entries j of vals[j] * W[cols[j]] into row rows[j]: the (n, d_in) reconstruction."""

    @staticmethod
    def forward(ctx: Any, vals: Tensor, W: Tensor, rows: Tensor, cols: Tensor, n: int) -> Tensor:
        ctx.save_for_backward(vals, W, rows, cols)
        ctx.n = n
        return _spmm(rows, cols, vals, (n, W.shape[0]), W)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        vals, W, rows, cols = ctx.saved_tensors
        g_W = _spmm(cols, rows, vals, (W.shape[0], ctx.n), g)
        crow = torch.zeros(ctx.n + 1, dtype=torch.long)
        crow[1:] = torch.bincount(rows, minlength=ctx.n).cumsum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pattern = torch.sparse_csr_tensor(
                crow, cols, vals.detach(), (ctx.n, W.shape[0]), check_invariants=False
            )
        g_vals = torch.sparse.sampled_addmm(pattern, g, W.T, beta=0.0).values()
        return g_vals, g_W, None, None, None


@contextmanager
def _intra_op_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    if int(n) != n or n < 1:
        raise ValueError(f"num_threads must be a positive integer or None, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _geometric_median(x: Tensor, iters: int = 100, tol: float = 1e-6) -> Tensor:
    """Weiszfeld's iteration for the point minimising the summed distance to the rows of ``x``."""
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=1).clamp_min(1e-8)
        new = (w[:, None] * x).sum(0) / w.sum()
        done = float((new - m).norm()) <= tol * max(1.0, float(m.norm()))
        m = new
        if done:
            break
    return m


def _batch_threshold(x: Tensor, w: dict[str, Tensor], k: int, batch_size: int) -> float:
    """BatchTopK inference threshold: mean over batches of the smallest activation the batch keeps."""
    mins: list[float] = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        if len(xb) < batch_size and mins:
            break
        f = _batch_topk((xb - w["b_dec"]) @ w["W_enc"] + w["b_enc"], k)
        kept = f[f > 0]
        if kept.numel():
            mins.append(float(kept.min()))
    return float(np.mean(mins)) if mins else 0.0
