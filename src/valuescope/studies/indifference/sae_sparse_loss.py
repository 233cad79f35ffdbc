"""The training loss of one batch of a TopK or BatchTopK SAE (``batch_loss``), through sparse autograd
kernels: the encoder's backward touches only the selected pre-activations and the decoder is a CSR
product, O(nnz * d) instead of two dense (n, d_in, d_sae) products."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor


def batch_loss(
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
