"""valuescope.studies.indifference.sae_training: TopK and BatchTopK training on planted dictionaries."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

from valuescope.studies.indifference.sae_model import evaluate_sae
from valuescope.studies.indifference.sae_training import train_sae


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Train on one intra-op thread: these models are small, and two threads sharing two busy cores can
    be many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _planted(
    n: int, *, d: int = 32, m: int = 64, k: int = 3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X, dictionary, codes): each row a sum of k of m random unit directions with magnitudes in [0.5, 2]."""
    g = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(m, d, generator=g)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    idx = torch.stack([torch.randperm(m, generator=g)[:k] for _ in range(n)])
    codes = torch.zeros(n, m).scatter(1, idx, torch.rand(n, k, generator=g) * 1.5 + 0.5)
    return codes @ dictionary, dictionary, codes


def test_topk_training_recovers_planted_sparse_dictionary() -> None:
    X, dictionary, _ = _planted(12_000)
    sae, report = train_sae(X, d_sae=128, k=3, epochs=20, seed=0)
    best_cos = (dictionary @ sae.directions().T).max(dim=1).values
    assert report.fve > 0.9
    assert float((best_cos > 0.9).float().mean()) >= 0.8
    assert float(best_cos.mean()) > 0.9
    assert report.l0 <= 3.0
    assert report.n_heldout == 1200 and report.n_unique_tokens == 10_800


def test_batchtopk_training_reconstructs_with_about_k_active_at_inference() -> None:
    X, _, _ = _planted(8_000, seed=1)
    sae, report = train_sae(X, d_sae=128, k=3, architecture="batchtopk", epochs=15, seed=0)
    assert sae.architecture == "batchtopk" and sae.threshold is not None
    assert torch.all(sae.threshold == sae.threshold[0])  # one threshold shared by every latent
    assert report.fve > 0.85
    assert 1.5 <= report.l0 <= 6.0


def test_training_is_deterministic_given_seed() -> None:
    X, _, _ = _planted(2_000, seed=2)
    a, ra = train_sae(X, d_sae=32, k=3, steps=30, batch_size=256, seed=5)
    b, rb = train_sae(X, d_sae=32, k=3, steps=30, batch_size=256, seed=5)
    c, _ = train_sae(X, d_sae=32, k=3, steps=30, batch_size=256, seed=6)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert ra.loss_curve == rb.loss_curve and ra.fve == rb.fve
    assert not torch.equal(a.W_dec, c.W_dec)


def test_training_folds_the_input_scale_and_keeps_decoder_rows_unit_norm() -> None:
    X, _, _ = _planted(2_000, seed=3)
    X = X * 50.0 + 7.0  # far from E||x|| = sqrt(d_in)
    sae, report = train_sae(X, d_sae=64, k=3, steps=40, batch_size=256)
    scale = report.input_scale
    assert sae.metadata["training"]["normalization"] == {
        "method": "expected_average_only_in",
        "input_scale": scale,
        "folded": True,
    }
    held = X[:100]
    mean_norm = float(X.norm(dim=1).mean())
    assert scale == pytest.approx(np.sqrt(32) / mean_norm, rel=0.05)
    torch.testing.assert_close(sae.W_dec.norm(dim=1) * scale, torch.ones(64))
    # raw inputs in, raw-unit reconstructions out
    assert evaluate_sae(sae, held)["fve"] > 0.5

    raw, _ = train_sae(X, d_sae=64, k=3, steps=5, batch_size=256, normalize=False)
    torch.testing.assert_close(raw.W_dec.norm(dim=1), torch.ones(64))


def test_train_report_counts_tokens_steps_and_curve() -> None:
    X, _, _ = _planted(1_000, seed=4)
    sae, report = train_sae(
        X, d_sae=32, k=2, steps=120, batch_size=100, log_every=50, metadata={"read_point": 4}
    )
    assert report.steps == 120 and report.tokens_trained == 12_000
    assert report.n_unique_tokens == 900 and report.n_heldout == 100
    assert [step for step, _ in report.loss_curve] == [50, 100, 120]
    assert report.loss_curve[-1][1] < report.loss_curve[0][1]
    assert 0.0 <= report.dead_fraction <= 1.0
    assert sae.metadata["read_point"] == 4 and sae.metadata["training"]["tokens_trained"] == 12_000
    json.dumps(report.as_dict())
    _, by_epochs = train_sae(X, d_sae=32, k=2, epochs=2.0, batch_size=100)
    assert by_epochs.steps == 18


def test_train_sae_rejects_bad_input() -> None:
    X, _, _ = _planted(200)
    with pytest.raises(ValueError, match="relu and jumprelu"):
        train_sae(X, d_sae=16, k=2, architecture="relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        train_sae(torch.full((50, 4), float("nan")), d_sae=8, k=2)
    with pytest.raises(ValueError, match="exceeds"):
        train_sae(X, d_sae=4, k=5)
    with pytest.raises(ValueError, match="2-D"):
        train_sae(X[0], d_sae=8, k=2)
