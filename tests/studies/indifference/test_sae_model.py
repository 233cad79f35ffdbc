"""valuescope.studies.indifference.sae_model: encoding with each activation on hand-built SAEs, evaluation."""

from __future__ import annotations

import pytest
import torch
from example_saes import hand_sae, random_sae

from valuescope.studies.indifference.sae_model import SAE, evaluate_sae


def test_topk_encode_keeps_at_most_k_nonzeros_per_row() -> None:
    sae = random_sae("topk", d_in=8, d_sae=40)
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    f = sae.encode(x)
    assert f.shape == (200, 40)
    assert int((f != 0).sum(dim=1).max()) <= 3
    assert bool((f >= 0).all())
    pre = sae.pre_activations(x).relu()
    kept = pre.topk(3, dim=1).values
    torch.testing.assert_close(f.topk(3, dim=1).values, kept)


def test_relu_jumprelu_and_batchtopk_encode_hand_built_sae() -> None:
    x = torch.tensor([[1.0, 2.0, -1.0], [0.3, 0.5, 0.2]])
    # pre = x + b_enc = [[1, 1, -0.5], [0.3, -0.5, 0.7]]
    relu = hand_sae("relu").encode(x)
    torch.testing.assert_close(relu, torch.tensor([[1.0, 1.0, 0.0], [0.3, 0.0, 0.7]]))
    thr = torch.tensor([0.5, 0.5, 0.5])
    jump = hand_sae("jumprelu", threshold=thr).encode(x)
    torch.testing.assert_close(jump, torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.7]]))
    batch = hand_sae("batchtopk", k=1, threshold=thr).encode(x)
    torch.testing.assert_close(batch, jump)  # at inference batchtopk is a jumprelu
    topk = hand_sae("topk", k=1).encode(x)
    assert (topk != 0).sum(dim=1).tolist() == [1, 1] and float(topk[1, 2]) == pytest.approx(0.7)
    decoded = hand_sae("relu").decode(relu)
    torch.testing.assert_close(decoded, relu)  # identity decoder, b_dec = 0


def test_apply_b_dec_to_input_subtracts_the_decoder_bias() -> None:
    sae = hand_sae("relu", apply_b_dec_to_input=True)
    sae.b_dec = torch.tensor([1.0, 0.0, 0.0])
    f = sae.encode(torch.tensor([[3.0, 2.0, 0.0]]))
    torch.testing.assert_close(f, torch.tensor([[2.0, 1.0, 0.5]]))
    torch.testing.assert_close(sae(torch.tensor([[3.0, 2.0, 0.0]])), torch.tensor([[3.0, 1.0, 0.5]]))


def test_sae_validates_shapes_and_required_fields() -> None:
    with pytest.raises(ValueError, match="W_dec has shape"):
        SAE(torch.eye(3), torch.zeros(3), torch.zeros(3, 4), torch.zeros(3), architecture="relu")
    with pytest.raises(ValueError, match="integer k"):
        hand_sae("topk")
    with pytest.raises(ValueError, match="threshold"):
        hand_sae("jumprelu")
    with pytest.raises(ValueError, match="shape"):
        hand_sae("relu").encode(torch.zeros(2, 4))


def test_evaluate_sae_on_a_perfect_reconstruction() -> None:
    sae = SAE(torch.eye(4), torch.zeros(4), torch.eye(4), torch.zeros(4), architecture="relu")
    x = torch.rand(50, 4, generator=torch.Generator().manual_seed(0)) + 0.1
    ev = evaluate_sae(sae, x)
    assert ev["mse"] == pytest.approx(0.0, abs=1e-12) and ev["fve"] == pytest.approx(1.0)
    assert ev["l0"] == 4.0 and ev["dead_fraction"] == 0.0
    half = SAE(torch.eye(4), torch.zeros(4), torch.zeros(4, 4), x.mean(0), architecture="relu")
    assert evaluate_sae(half, x)["fve"] == pytest.approx(
        0.0, abs=1e-6
    )  # predicting the mean explains nothing
