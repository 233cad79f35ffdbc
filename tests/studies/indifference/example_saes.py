"""Small SAEs with known weights, shared by the SAE tests."""

from __future__ import annotations

from typing import Any

import torch

from valuescope.studies.indifference.sae_model import SAE


def hand_sae(architecture: Any = "relu", **kw: Any) -> SAE:
    """d_in = d_sae = 3, identity encoder and decoder, b_enc = (0, -1, 0.5), b_dec = 0."""
    return SAE(
        W_enc=torch.eye(3),
        b_enc=torch.tensor([0.0, -1.0, 0.5]),
        W_dec=torch.eye(3),
        b_dec=torch.zeros(3),
        architecture=architecture,
        **kw,
    )


def random_sae(architecture: Any = "topk", *, d_in: int = 6, d_sae: int = 10, seed: int = 0) -> SAE:
    """Seeded random weights, k = 3 and a threshold where the architecture needs them, and metadata."""
    g = torch.Generator().manual_seed(seed)
    return SAE(
        W_enc=torch.randn(d_in, d_sae, generator=g),
        b_enc=torch.randn(d_sae, generator=g) * 0.1,
        W_dec=torch.randn(d_sae, d_in, generator=g),
        b_dec=torch.randn(d_in, generator=g),
        architecture=architecture,
        k=3 if architecture in ("topk", "batchtopk") else None,
        threshold=torch.rand(d_sae, generator=g) if architecture in ("jumprelu", "batchtopk") else None,
        metadata={"hook_name": "blocks.2.hook_resid_post", "read_point": 3, "nested": {"a": [1, 2]}},
    )
