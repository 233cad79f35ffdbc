"""valuescope.studies.indifference.sae_sparse_loss: the sparse backward against dense autograd."""

from __future__ import annotations

import torch

from valuescope.studies.indifference.sae_model import batch_topk_activations, topk_activations
from valuescope.studies.indifference.sae_sparse_loss import batch_loss


def test_sparse_training_gradients_match_dense_autograd() -> None:
    """The hand-written sparse backward equals autograd through dense TopK / BatchTopK and AuxK."""
    g = torch.Generator().manual_seed(0)
    n, d, m, k, aux_k, aux_coef = 64, 16, 48, 4, 5, 0.5
    x = torch.randn(n, d, generator=g)
    base = {
        "E": torch.randn(m, d, generator=g),
        "b_enc": torch.randn(m, generator=g) * 0.1,
        "W_dec": torch.randn(m, d, generator=g),
        "b_dec": torch.randn(d, generator=g),
    }
    dead = torch.zeros(m, dtype=torch.bool)
    dead[::3] = True
    for architecture in ("topk", "batchtopk"):
        sparse = {name: t.clone().requires_grad_() for name, t in base.items()}
        loss, fired = batch_loss(x, sparse, architecture, k, dead, aux_k, aux_coef)
        loss.backward()

        dense = {name: t.clone().requires_grad_() for name, t in base.items()}
        pre = (x - dense["b_dec"]) @ dense["E"].T + dense["b_enc"]
        f = topk_activations(pre, k) if architecture == "topk" else batch_topk_activations(pre, k)
        err = x - (f @ dense["W_dec"] + dense["b_dec"])
        ref = err.pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        z = topk_activations(pre.masked_fill(~dead, float("-inf")), aux_k)
        e = err.detach()
        aux = (z @ dense["W_dec"] - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum()
        ref = ref + aux_coef * min(int(dead.sum()) / aux_k, 1.0) * aux
        ref.backward()

        torch.testing.assert_close(loss.detach(), ref.detach())
        for name in base:
            torch.testing.assert_close(sparse[name].grad, dense[name].grad, rtol=1e-5, atol=1e-4)
        assert set(fired.tolist()) == set(torch.nonzero((f > 0).any(0)).flatten().tolist())
