"""valuescope.analysis.sae, sae_io and sae_features: planted dictionaries, hand-built SAEs, SAELens dirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from valuescope.analysis import sae as sae_mod
from valuescope.analysis.sae import SAE, evaluate_sae, train_sae
from valuescope.analysis.sae_features import (
    feature_activations,
    feature_selectivity,
    monosemanticity,
    select_moral_features,
    top_items,
)
from valuescope.analysis.sae_io import load_sae, read_point_from_hook, save_sae
from valuescope.analysis.stats import auroc


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


def _hand_sae(architecture: Any = "relu", **kw: Any) -> SAE:
    """d_in = d_sae = 3, identity encoder and decoder, b_enc = (0, -1, 0.5), b_dec = 0."""
    return SAE(
        W_enc=torch.eye(3),
        b_enc=torch.tensor([0.0, -1.0, 0.5]),
        W_dec=torch.eye(3),
        b_dec=torch.zeros(3),
        architecture=architecture,
        **kw,
    )


def _random_sae(architecture: Any = "topk", *, d_in: int = 6, d_sae: int = 10, seed: int = 0) -> SAE:
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


def _write_folder(folder: Path, cfg: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "sae_weights.safetensors"))
    return folder


def _saelens_tensors(d_in: int = 4, d_sae: int = 6, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "W_enc": torch.randn(d_in, d_sae, generator=g),
        "b_enc": torch.randn(d_sae, generator=g) * 0.1,
        "W_dec": torch.randn(d_sae, d_in, generator=g),
        "b_dec": torch.randn(d_in, generator=g),
    }


# ---------------------------------------------------------------------------------------------- training


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
        loss, fired = sae_mod._batch_loss(x, sparse, architecture, k, dead, aux_k, aux_coef)
        loss.backward()

        dense = {name: t.clone().requires_grad_() for name, t in base.items()}
        pre = (x - dense["b_dec"]) @ dense["E"].T + dense["b_enc"]
        f = sae_mod._topk(pre, k) if architecture == "topk" else sae_mod._batch_topk(pre, k)
        err = x - (f @ dense["W_dec"] + dense["b_dec"])
        ref = err.pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        z = sae_mod._topk(pre.masked_fill(~dead, float("-inf")), aux_k)
        e = err.detach()
        aux = (z @ dense["W_dec"] - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum()
        ref = ref + aux_coef * min(int(dead.sum()) / aux_k, 1.0) * aux
        ref.backward()

        torch.testing.assert_close(loss.detach(), ref.detach())
        for name in base:
            torch.testing.assert_close(sparse[name].grad, dense[name].grad, rtol=1e-5, atol=1e-4)
        assert set(fired.tolist()) == set(torch.nonzero((f > 0).any(0)).flatten().tolist())


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


# ------------------------------------------------------------------------------------------ the model


def test_topk_encode_keeps_at_most_k_nonzeros_per_row() -> None:
    sae = _random_sae("topk", d_in=8, d_sae=40)
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
    relu = _hand_sae("relu").encode(x)
    torch.testing.assert_close(relu, torch.tensor([[1.0, 1.0, 0.0], [0.3, 0.0, 0.7]]))
    thr = torch.tensor([0.5, 0.5, 0.5])
    jump = _hand_sae("jumprelu", threshold=thr).encode(x)
    torch.testing.assert_close(jump, torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.7]]))
    batch = _hand_sae("batchtopk", k=1, threshold=thr).encode(x)
    torch.testing.assert_close(batch, jump)  # at inference batchtopk is a jumprelu
    topk = _hand_sae("topk", k=1).encode(x)
    assert (topk != 0).sum(dim=1).tolist() == [1, 1] and float(topk[1, 2]) == pytest.approx(0.7)
    decoded = _hand_sae("relu").decode(relu)
    torch.testing.assert_close(decoded, relu)  # identity decoder, b_dec = 0


def test_apply_b_dec_to_input_subtracts_the_decoder_bias() -> None:
    sae = _hand_sae("relu", apply_b_dec_to_input=True)
    sae.b_dec = torch.tensor([1.0, 0.0, 0.0])
    f = sae.encode(torch.tensor([[3.0, 2.0, 0.0]]))
    torch.testing.assert_close(f, torch.tensor([[2.0, 1.0, 0.5]]))
    torch.testing.assert_close(sae(torch.tensor([[3.0, 2.0, 0.0]])), torch.tensor([[3.0, 1.0, 0.5]]))


def test_sae_validates_shapes_and_required_fields() -> None:
    with pytest.raises(ValueError, match="W_dec has shape"):
        SAE(torch.eye(3), torch.zeros(3), torch.zeros(3, 4), torch.zeros(3), architecture="relu")
    with pytest.raises(ValueError, match="integer k"):
        _hand_sae("topk")
    with pytest.raises(ValueError, match="threshold"):
        _hand_sae("jumprelu")
    with pytest.raises(ValueError, match="shape"):
        _hand_sae("relu").encode(torch.zeros(2, 4))


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


# ---------------------------------------------------------------------------------------------- files


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "jumprelu", "relu"])
def test_save_load_round_trip_is_exact(tmp_path: Path, architecture: str) -> None:
    sae = _random_sae(architecture)
    save_sae(sae, tmp_path / "sae")
    back = load_sae(tmp_path / "sae")
    assert back.architecture == sae.architecture and back.k == sae.k
    assert back.apply_b_dec_to_input == sae.apply_b_dec_to_input
    assert back.metadata == sae.metadata
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(back, name), getattr(sae, name))
    if sae.threshold is not None:
        assert back.threshold is not None and torch.equal(back.threshold, sae.threshold)
    x = torch.randn(20, 6)
    assert torch.equal(back.encode(x), sae.encode(x))


def test_saved_cfg_uses_saelens_keys(tmp_path: Path) -> None:
    save_sae(_random_sae("topk"), tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["k"] == 3 and cfg["activation_fn_kwargs"] == {"k": 3}
    assert (cfg["d_in"], cfg["d_sae"], cfg["normalize_activations"]) == (6, 10, "none")
    assert cfg["hook_name"] == "blocks.2.hook_resid_post" and cfg["hook_layer"] == 2
    save_sae(_random_sae("batchtopk"), tmp_path / "b")
    cfg_b = json.loads((tmp_path / "b" / "cfg.json").read_text())
    assert cfg_b["architecture"] == "jumprelu"  # as SAELens saves a trained BatchTopK SAE
    assert cfg_b["valuescope"]["architecture"] == "batchtopk"


def test_save_derives_hook_name_from_read_point(tmp_path: Path) -> None:
    sae = _random_sae("relu")
    sae.metadata = {"read_point": 0}
    save_sae(sae, tmp_path / "s")
    assert json.loads((tmp_path / "s" / "cfg.json").read_text())["hook_name"] == "blocks.0.hook_resid_pre"


def test_save_replaces_an_sae_folder_but_not_other_folders(tmp_path: Path) -> None:
    target = tmp_path / "sae"
    save_sae(_random_sae("topk", seed=0), target)
    newer = _random_sae("relu", seed=1)
    save_sae(newer, target)
    assert load_sae(target).architecture == "relu"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]  # no temp folders left behind
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not part of an SAE"):
        save_sae(newer, other)
    assert (other / "readme.txt").read_text() == "keep me"


def test_load_old_saelens_standard_folder(tmp_path: Path) -> None:
    t = _saelens_tensors()
    cfg = {
        "architecture": "standard",
        "d_in": 4,
        "d_sae": 6,
        "dtype": "float32",
        "device": "cpu",
        "hook_point": "blocks.6.hook_resid_pre",
        "hook_point_layer": 6,
        "model_name": "gpt2-small",
        "activation_fn_str": "relu",
        "apply_b_dec_to_input": True,
        "normalize_activations": False,
    }
    sae = load_sae(_write_folder(tmp_path / "old", cfg, t))
    assert sae.architecture == "relu" and (sae.d_in, sae.d_sae) == (4, 6)
    assert sae.metadata["hook_name"] == "blocks.6.hook_resid_pre" and sae.metadata["read_point"] == 6
    assert sae.metadata["model_name"] == "gpt2-small" and sae.metadata["hook_layer"] == 6
    x = torch.randn(5, 4)
    torch.testing.assert_close(sae.encode(x), ((x - t["b_dec"]) @ t["W_enc"] + t["b_enc"]).relu())


def test_load_saelens_jumprelu_folder(tmp_path: Path) -> None:
    t = _saelens_tensors() | {"threshold": torch.full((6,), 0.3)}
    cfg = {
        "architecture": "jumprelu",
        "d_in": 4,
        "d_sae": 6,
        "apply_b_dec_to_input": False,
        "normalize_activations": None,
        "hook_name": "blocks.3.hook_resid_post",
        "dtype": "bfloat16",
    }
    sae = load_sae(_write_folder(tmp_path / "jr", cfg, t))
    assert sae.architecture == "jumprelu" and sae.metadata["read_point"] == 4
    x = torch.randn(5, 4)
    pre = x @ t["W_enc"] + t["b_enc"]
    torch.testing.assert_close(sae.encode(x), pre.relu() * (pre > 0.3))


def test_load_topk_with_k_in_activation_fn_kwargs_or_top_level(tmp_path: Path) -> None:
    t = _saelens_tensors()
    pre6 = {"architecture": "standard", "d_in": 4, "d_sae": 6, "activation_fn_str": "topk"}
    pre6["activation_fn_kwargs"] = {"k": 2}
    v6 = {
        "architecture": "topk",
        "d_in": 4,
        "d_sae": 6,
        "k": 2,
        "metadata": {"hook_name": "blocks.1.hook_resid_post", "model_name": "m", "sae_lens_version": "6.5.0"},
    }
    for name, cfg in (("pre6", pre6), ("v6", v6)):
        sae = load_sae(_write_folder(tmp_path / name, cfg, t))
        assert sae.architecture == "topk" and sae.k == 2
        f = sae.encode(torch.randn(7, 4))
        assert int((f != 0).sum(dim=1).max()) <= 2
    assert load_sae(tmp_path / "v6").metadata["read_point"] == 2


def test_load_expected_average_only_in_folds_the_scale(tmp_path: Path) -> None:
    t = _saelens_tensors()
    cfg = {
        "architecture": "standard",
        "d_in": 4,
        "d_sae": 6,
        "normalize_activations": "expected_average_only_in",
    }
    folder = _write_folder(tmp_path / "n", cfg, t)
    with pytest.raises(ValueError, match=r"cfg\.json.*normalize_activations.*input_scale"):
        load_sae(folder)
    (folder / "activation_scaler.json").write_text(json.dumps({"scaling_factor": 0.25}))
    sae = load_sae(folder)
    x = torch.randn(5, 4) * 10
    f_ref = ((0.25 * x - t["b_dec"]) @ t["W_enc"] + t["b_enc"]).relu()
    torch.testing.assert_close(sae.encode(x), f_ref)
    torch.testing.assert_close(sae.decode(f_ref), (f_ref @ t["W_dec"] + t["b_dec"]) / 0.25)
    assert sae.metadata["normalization"]["input_scale"] == 0.25
    (folder / "activation_scaler.json").unlink()
    torch.testing.assert_close(load_sae(folder, input_scale=0.25).encode(x), f_ref)


def test_load_errors_name_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    t = _saelens_tensors()
    base = {"architecture": "standard", "d_in": 4, "d_sae": 6}
    bad_shape = _write_folder(tmp_path / "shape", base | {"d_sae": 7}, t)
    with pytest.raises(ValueError, match=r"sae_weights\.safetensors.*'W_enc' has shape \(4, 6\)"):
        load_sae(bad_shape)
    transposed = _write_folder(tmp_path / "tr", base, t | {"W_enc": t["W_enc"].T})
    with pytest.raises(ValueError, match="transposed"):
        load_sae(transposed)
    gated = _write_folder(tmp_path / "gated", base | {"architecture": "gated"}, t)
    with pytest.raises(
        ValueError, match=r"gated.*cfg\.json.*'architecture'|cfg\.json.*'architecture'.*gated"
    ):
        load_sae(gated)
    norm = _write_folder(tmp_path / "norm", base | {"normalize_activations": "constant_norm_rescale"}, t)
    with pytest.raises(ValueError, match=r"cfg\.json.*normalize_activations.*constant_norm_rescale"):
        load_sae(norm)
    no_thr = _write_folder(tmp_path / "nothr", base | {"architecture": "jumprelu"}, t)
    with pytest.raises(ValueError, match=r"sae_weights\.safetensors.*missing tensors \['threshold'\]"):
        load_sae(no_thr)
    no_k = _write_folder(tmp_path / "nok", base | {"architecture": "topk"}, t)
    with pytest.raises(ValueError, match=r"cfg\.json.*'k'.*missing"):
        load_sae(no_k)
    clash = _write_folder(
        tmp_path / "clash", base | {"architecture": "topk", "k": 2, "activation_fn_kwargs": {"k": 3}}, t
    )
    with pytest.raises(ValueError, match="disagrees"):
        load_sae(clash)
    with pytest.raises(FileNotFoundError, match="sae_weights"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "cfg.json").write_text("{}")
        load_sae(tmp_path / "empty")


def test_read_point_from_hook() -> None:
    assert read_point_from_hook("blocks.6.hook_resid_post") == 7
    assert read_point_from_hook("blocks.6.hook_resid_pre") == 6
    assert read_point_from_hook("blocks.0.hook_resid_pre") == 0
    assert read_point_from_hook("blocks.6.hook_resid_mid") is None
    assert read_point_from_hook("blocks.6.hook_mlp_out") is None
    assert read_point_from_hook("hook_embed") is None


# ------------------------------------------------------------------------------------ feature analysis


def test_feature_activations_match_encode_in_chunks() -> None:
    sae = _random_sae("topk")
    x = torch.randn(33, 6)
    acts = feature_activations(sae, x, batch_size=10)
    assert acts.dtype == np.float32 and acts.shape == (33, 10)
    np.testing.assert_allclose(acts, sae.encode(x).numpy())
    np.testing.assert_allclose(feature_activations(sae, x.numpy()), acts)


def test_feature_selectivity_matches_stats_auroc_with_ties() -> None:
    rng = np.random.default_rng(0)
    acts = np.maximum(rng.normal(size=(120, 7)), 0).round(1)  # many ties at 0 and on the grid
    labels = rng.choice(["care", "fairness", "neutral"], size=120)
    table = feature_selectivity(acts, labels)
    assert list(table.columns[:3]) == ["feature", "class", "auroc"]
    assert len(table) == 7 * 3
    for row in table.itertuples():
        inside = labels == row[2]
        assert row.auroc == pytest.approx(auroc(acts[:, row.feature], inside), abs=1e-12)
        assert row.mean_in == pytest.approx(acts[inside, row.feature].mean())
        assert row.mean_out == pytest.approx(acts[~inside, row.feature].mean())
        assert row.freq == pytest.approx((acts[:, row.feature] > 0).mean())


def _planted_classes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """acts (300, 20): feature 3 fires only on 'care' items, feature 7 only on 'fairness', the rest noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["care", "fairness", "liberty", "neutral"], 75)
    acts = np.where(rng.random((300, 20)) < 0.2, rng.exponential(1.0, (300, 20)), 0.0)
    acts[:, 3] = np.where(labels == "care", rng.uniform(1, 2, 300), 0.0)
    acts[:, 7] = np.where(labels == "fairness", rng.uniform(1, 2, 300), 0.0)
    return acts, labels


def test_a_feature_firing_only_for_one_class_is_found() -> None:
    acts, labels = _planted_classes()
    table = feature_selectivity(acts, labels, classes=["care", "fairness", "liberty"])
    care3 = table[(table.feature == 3) & (table["class"] == "care")].iloc[0]
    assert care3.auroc == pytest.approx(1.0) and care3.freq_in == 1.0 and care3.mean_out == 0.0
    chosen = select_moral_features(table, min_auroc=0.9)
    assert chosen[["feature", "class"]].values.tolist() == [[3, "care"], [7, "fairness"]]
    mono = monosemanticity(table).set_index("feature")
    assert mono.loc[3, "best_class"] == "care" and mono.loc[3, "mass_share"] == pytest.approx(1.0)
    assert mono.loc[3, "base_share"] == pytest.approx(0.25)
    assert mono.loc[3, "auroc_margin"] > mono.drop(index=[3, 7])["auroc_margin"].max()


def test_monosemanticity_on_a_hand_computed_table() -> None:
    # feature 0: all mass on class a; feature 1: equal on a and b; feature 2 never fires
    acts = np.array([[1.0, 1.0, 0], [1.0, 1.0, 0], [0.0, 1.0, 0], [0.0, 1.0, 0]])
    labels = ["a", "a", "b", "b"]
    mono = monosemanticity(feature_selectivity(acts, labels)).set_index("feature")
    assert mono.loc[0, "best_auroc"] == 1.0 and mono.loc[0, "second_auroc"] == 0.0
    assert mono.loc[0, "auroc_margin"] == 0.5 and mono.loc[0, "mass_share"] == 1.0
    assert mono.loc[1, "auroc_margin"] == 0.0 and mono.loc[1, "mass_share"] == 0.5
    assert np.isnan(mono.loc[2, "mass_share"]) and mono.loc[2, "auroc_margin"] == 0.0


def test_select_moral_features_caps_and_filters() -> None:
    acts, labels = _planted_classes()
    table = feature_selectivity(acts, labels)
    assert len(select_moral_features(table, min_auroc=0.5, max_per_class=2)) <= 2 * 4
    table.loc[table.feature == 3, "freq"] = 0.001
    assert 3 not in select_moral_features(table, min_auroc=0.9, min_freq=0.01)["feature"].tolist()
    shared = pd.DataFrame(
        {"feature": [0, 0], "class": ["a", "b"], "auroc": [0.95, 0.9], "mean_in": [1, 1], "mean_out": [0, 0]}
    ).assign(freq=0.5)
    assert select_moral_features(shared)["class"].tolist() == ["a"]
    assert select_moral_features(shared, exclusive=False)["class"].tolist() == ["a", "b"]


def test_feature_selectivity_errors() -> None:
    acts, labels = _planted_classes()
    with pytest.raises(ValueError, match="'virtue' has no items"):
        feature_selectivity(acts, labels, classes=["care", "virtue"])
    with pytest.raises(ValueError, match="one class per item"):
        feature_selectivity(acts, labels[:10])
    with pytest.raises(ValueError, match="every item"):
        feature_selectivity(acts, ["care"] * 300)


def test_top_items_ranks_active_items() -> None:
    acts = np.array([[0.0, 1.0], [3.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    texts = ["w", "x", "y", "z"]
    assert top_items(acts, texts, 0, k=5) == [("x", 3.0), ("y", 2.0)]
    assert top_items(acts, texts, 1, k=1) == [("w", 1.0)]
    with pytest.raises(ValueError, match="feature"):
        top_items(acts, texts, 2)
