"""valuescope.studies.indifference.sae_io: exact round trips and SAELens folders of every vintage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from example_saes import random_sae
from safetensors.torch import save_file

from valuescope.studies.indifference.sae_io import load_sae, read_point_from_hook, save_sae


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


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "jumprelu", "relu"])
def test_save_load_round_trip_is_exact(tmp_path: Path, architecture: str) -> None:
    sae = random_sae(architecture)
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
    save_sae(random_sae("topk"), tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["k"] == 3 and cfg["activation_fn_kwargs"] == {"k": 3}
    assert (cfg["d_in"], cfg["d_sae"], cfg["normalize_activations"]) == (6, 10, "none")
    assert cfg["hook_name"] == "blocks.2.hook_resid_post" and cfg["hook_layer"] == 2
    save_sae(random_sae("batchtopk"), tmp_path / "b")
    cfg_b = json.loads((tmp_path / "b" / "cfg.json").read_text())
    assert cfg_b["architecture"] == "jumprelu"  # as SAELens saves a trained BatchTopK SAE
    assert cfg_b["valuescope"]["architecture"] == "batchtopk"


def test_save_derives_hook_name_from_read_point(tmp_path: Path) -> None:
    sae = random_sae("relu")
    sae.metadata = {"read_point": 0}
    save_sae(sae, tmp_path / "s")
    assert json.loads((tmp_path / "s" / "cfg.json").read_text())["hook_name"] == "blocks.0.hook_resid_pre"


def test_save_replaces_an_sae_folder_but_not_other_folders(tmp_path: Path) -> None:
    target = tmp_path / "sae"
    save_sae(random_sae("topk", seed=0), target)
    newer = random_sae("relu", seed=1)
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
