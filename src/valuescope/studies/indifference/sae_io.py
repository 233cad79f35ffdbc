"""Sparse autoencoders in SAELens' folder layout (``cfg.json`` + ``sae_weights.safetensors``), and
TransformerLens hook names as valuescope read points. Nothing is unpickled and no code runs on load."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast, get_args

import torch
from torch import Tensor

from valuescope.files import read_json_object
from valuescope.studies.indifference.sae_model import SAE, Architecture
from valuescope.tensors import load_tensors, save_tensors, write_bytes_atomic

__all__ = ["load_sae", "read_point_from_hook", "save_sae"]

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SCALER_FILE = "activation_scaler.json"  # where SAELens keeps an unfolded input scale
_OWN_KEY = "valuescope"  # our block inside cfg.json; SAELens ignores keys it does not know
_SAE_FILES = {CFG_FILE, WEIGHTS_FILE, SCALER_FILE, "sparsity.safetensors"}
_RESID = re.compile(r"blocks\.(\d+)\.hook_resid_(pre|post)")
BadKey = Callable[[str, str], ValueError]
"""Builds the error for a cfg.json key from the key and why its value is wrong."""


# ----------------------------------------------------------------------------------------------------------
# read points


def read_point_from_hook(hook_name: str) -> int | None:
    """valuescope read point of a TransformerLens residual hook; None for any other hook.

    ``blocks.L.hook_resid_pre`` is the input of block L, read point L (0 = embedding output);
    ``blocks.L.hook_resid_post`` its output, read point L + 1.
    """
    m = _RESID.fullmatch(hook_name.strip())
    if m is None:
        return None
    layer = int(m.group(1))
    return layer if m.group(2) == "pre" else layer + 1


def _hook_from_read_point(read_point: int) -> str:
    return "blocks.0.hook_resid_pre" if read_point == 0 else f"blocks.{read_point - 1}.hook_resid_post"


# ----------------------------------------------------------------------------------------------------------
# SAELens-layout folders

_SAELENS_META = (
    "model_name",
    "hook_name",
    "hook_layer",
    "hook_head_index",
    "model_class_name",
    "context_size",
    "prepend_bos",
    "dataset_path",
    "neuronpedia_id",
    "sae_lens_version",
)
_SAELENS_ARCH = {"topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu", "relu": "standard"}


def save_sae(sae: SAE, path: str | Path) -> Path:
    """Write ``sae`` to the folder ``path`` as ``cfg.json`` + ``sae_weights.safetensors`` (SAELens layout).

    Written to a temporary folder and renamed into place, replacing an earlier SAE folder there. A topk
    SAE stores k both as ``k`` and in ``activation_fn_kwargs``; a batchtopk one is saved as SAELens does,
    as jumprelu with its threshold. The exact architecture and ``metadata`` go under the ``valuescope``
    key, so ``load_sae`` gives back an identical SAE.
    """
    path = Path(path)
    _check_destination(path)
    cfg = _saelens_cfg(sae, _json_metadata(sae))
    tensors = {"W_enc": sae.W_enc, "b_enc": sae.b_enc, "W_dec": sae.W_dec, "b_dec": sae.b_dec}
    if sae.threshold is not None:
        tensors["threshold"] = sae.threshold
    tensors = {name: t.detach().to(torch.float32) for name, t in tensors.items()}
    _write_folder(path, tensors, json.dumps(cfg, indent=2, allow_nan=False).encode())
    return path


def _check_destination(path: Path) -> None:
    """Refuse a ``path`` that is a file, or a folder holding anything but an SAE's files."""
    if not path.exists():
        return
    if not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder; save_sae writes a folder")
    others = sorted(set(os.listdir(path)) - _SAE_FILES)
    if others:
        raise ValueError(
            f"{path} exists and holds files that are not part of an SAE ({others[:5]}); "
            "save to a new folder or empty this one"
        )


def _json_metadata(sae: SAE) -> Any:
    """A JSON copy of ``sae.metadata``, or a TypeError when it holds anything else."""
    try:
        return json.loads(json.dumps(sae.metadata, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise TypeError(f"sae.metadata must hold JSON values only ({e})") from e


def _saelens_cfg(sae: SAE, own_meta: Any) -> dict[str, Any]:
    """The ``cfg.json`` of ``sae``: SAELens's keys (hook name and layer derived from a read point when
    missing), and ours under ``valuescope``."""
    meta = dict(sae.metadata)
    if "hook_name" not in meta and isinstance(meta.get("read_point"), int) and meta["read_point"] >= 0:
        meta["hook_name"] = _hook_from_read_point(meta["read_point"])
    if "hook_layer" not in meta and isinstance(meta.get("hook_name"), str):
        m = _RESID.fullmatch(meta["hook_name"])
        if m:
            meta["hook_layer"] = int(m.group(1))
    act = "topk" if sae.architecture == "topk" else "relu"
    return {
        "architecture": _SAELENS_ARCH[sae.architecture],
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": bool(sae.apply_b_dec_to_input),
        "normalize_activations": "none",
        "activation_fn": act,
        "activation_fn_str": act,
        "activation_fn_kwargs": {"k": sae.k} if sae.architecture == "topk" else {},
        **({"k": sae.k} if sae.architecture == "topk" else {}),
        **{key: meta[key] for key in _SAELENS_META if key in meta and key != "sae_lens_version"},
        _OWN_KEY: {"format": 1, "architecture": sae.architecture, "k": sae.k, "metadata": own_meta},
    }


def _write_folder(path: Path, tensors: dict[str, Tensor], cfg: bytes) -> None:
    """Write the SAE's two files to a temporary sibling folder and rename it to ``path``, putting an
    earlier folder back if the rename fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)
        save_tensors(tmp / WEIGHTS_FILE, tensors)
        write_bytes_atomic(tmp / CFG_FILE, cfg)
        if path.exists():
            old = path.parent / f".{path.name}.{uuid.uuid4().hex}.old"
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_sae(path: str | Path, *, input_scale: float | None = None) -> SAE:
    """Read an SAE folder in SAELens layout (``cfg.json`` + ``sae_weights.safetensors``), ours or SAELens's.

    Understands architectures ``standard`` (relu, or topk when ``activation_fn`` is "topk"), ``topk``,
    ``jumprelu`` and ``batchtopk``, with k at ``k`` or in ``activation_fn_kwargs``, and
    ``normalize_activations`` "none" or "expected_average_only_in". For the latter the input scale comes from
    ``activation_scaler.json`` in the folder or from ``input_scale`` (SAELens lists it per release in
    pretrained_saes.yaml) and is folded into the weights. Weights are read as float32; anything else
    raises a ValueError naming the file and key.
    """
    folder = _sae_folder(Path(path))
    cfg_path, weights_path = folder / CFG_FILE, folder / WEIGHTS_FILE
    cfg = read_json_object(cfg_path, f"an SAE's {CFG_FILE} holds its settings as one JSON object")
    bad = partial(_bad_key, cfg_path)
    d_in, d_sae = _dimensions(cfg, bad)
    own = cfg.get(_OWN_KEY) if isinstance(cfg.get(_OWN_KEY), dict) else None
    architecture, k = _architecture(cfg, own, bad)
    norm = _normalization(cfg, bad)
    apply_b_dec = cfg.get("apply_b_dec_to_input", True)
    if not isinstance(apply_b_dec, bool):
        raise bad("apply_b_dec_to_input", f"must be true or false, got {apply_b_dec!r}")
    tensors = _check_tensors(load_tensors(weights_path)[0], architecture, d_in, d_sae, weights_path)
    _check_decoder_norms(cfg, tensors["W_dec"], bad)
    scale = None
    if norm == "expected_average_only_in":
        scale = _stored_input_scale(folder, input_scale, bad)
        tensors["W_enc"] = tensors["W_enc"] * scale
        tensors["W_dec"] = tensors["W_dec"] / scale
        tensors["b_dec"] = tensors["b_dec"] / scale
    return SAE(
        W_enc=tensors["W_enc"],
        b_enc=tensors["b_enc"],
        W_dec=tensors["W_dec"],
        b_dec=tensors["b_dec"],
        architecture=architecture,
        k=k,
        threshold=tensors.get("threshold"),
        apply_b_dec_to_input=apply_b_dec,
        metadata=_loaded_metadata(cfg, own, norm, scale),
    )


def _sae_folder(path: Path) -> Path:
    """The SAE folder ``path`` names (it may name one of its two files), checked to hold both files."""
    folder = path.parent if path.is_file() and path.name in (CFG_FILE, WEIGHTS_FILE) else path
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such SAE folder (expected a folder with {CFG_FILE})")
    for p in (folder / CFG_FILE, folder / WEIGHTS_FILE):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; an SAE folder holds {CFG_FILE} and {WEIGHTS_FILE}")
    return folder


def _bad_key(cfg_path: Path, key: str, why: str) -> ValueError:
    return ValueError(f"{cfg_path}: key {key!r} {why}")


def _dimensions(cfg: dict[str, Any], bad: BadKey) -> tuple[int, int]:
    """(d_in, d_sae), each a positive integer."""
    d_in, d_sae = cfg.get("d_in"), cfg.get("d_sae")
    for key, value in (("d_in", d_in), ("d_sae", d_sae)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad(key, f"must be a positive integer, got {value!r}")
    return cast(int, d_in), cast(int, d_sae)


def _normalization(cfg: dict[str, Any], bad: BadKey) -> str:
    """ "none" or "expected_average_only_in" (older booleans read as these); other input scalings raise."""
    norm = cfg.get("normalize_activations", "none")
    norm = {None: "none", False: "none", True: "expected_average_only_in"}.get(norm, norm)
    if norm not in ("none", "expected_average_only_in"):
        raise bad(
            "normalize_activations",
            f"is {norm!r}; valuescope supports 'none' and 'expected_average_only_in' only",
        )
    if cfg.get("finetuning_scaling_factor"):
        raise bad(
            "finetuning_scaling_factor", "is set; SAEs with a finetuning scaling factor are not supported"
        )
    return cast(str, norm)


def _check_decoder_norms(cfg: dict[str, Any], w_dec: Tensor, bad: BadKey) -> None:
    """Activations rescaled by the decoder norms are only supported when those norms are one."""
    if cfg.get("rescale_acts_by_decoder_norm"):
        norms = w_dec.norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-4):
            raise bad(
                "rescale_acts_by_decoder_norm", "is true and the decoder rows are not unit norm; unsupported"
            )


def _stored_input_scale(folder: Path, input_scale: float | None, bad: BadKey) -> float:
    """The input scale to fold into the weights: ``input_scale`` if given, else the folder's scaler file."""
    scale = input_scale if input_scale is not None else _scaler_file(folder / SCALER_FILE)
    if scale is None:
        raise bad(
            "normalize_activations",
            "is 'expected_average_only_in' but no input scale is stored (no scaling_factor in "
            f"{folder / SCALER_FILE}); pass load_sae(..., input_scale=...) with the release's "
            "norm_scaling_factor",
        )
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"the input scale for {folder / CFG_FILE} must be a positive number, got {scale!r}")
    return scale


def _loaded_metadata(
    cfg: dict[str, Any], own: dict[str, Any] | None, norm: str, scale: float | None
) -> dict[str, Any]:
    """Our own saved metadata, or SAELens's model and hook fields with the folded input scale."""
    if own is not None and isinstance(own.get("metadata"), dict):
        return dict(own["metadata"])
    metadata = _saelens_metadata(cfg)
    if scale is not None:
        metadata["normalization"] = {"method": norm, "input_scale": float(scale), "folded": True}
    return metadata


def _architecture(
    cfg: dict[str, Any], own: dict[str, Any] | None, bad: BadKey
) -> tuple[Architecture, int | None]:
    """(architecture, k) from a cfg.json: our own block if present, else SAELens's keys, old and new."""
    arch = cfg.get("architecture", "standard")
    act = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu")) or "relu"
    if own is not None and own.get("architecture") in get_args(Architecture):
        chosen = cast(Architecture, own["architecture"])
    elif arch == "standard" and act == "topk":
        chosen = "topk"
    elif arch == "standard":
        chosen = "relu"
    elif arch in ("topk", "batchtopk", "jumprelu"):
        chosen = cast(Architecture, arch)
    else:
        raise bad(
            "architecture", f"is {arch!r}; valuescope reads standard, topk, jumprelu and batchtopk SAEs"
        )
    if act not in ("relu", "topk"):
        raise bad("activation_fn", f"is {act!r}; only relu and topk activations are supported")
    if chosen not in ("topk", "batchtopk"):
        return chosen, None
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise bad("activation_fn_kwargs", f"must be an object, got {kwargs!r}")
    found = {
        key: v
        for key, v in (("k", cfg.get("k")), ("activation_fn_kwargs.k", kwargs.get("k")))
        if v is not None
    }
    if own is not None and own.get("k") is not None:
        found = {"valuescope.k": own["k"]}
    if not found:
        raise bad("k", f"is missing: a {chosen} SAE needs k (at 'k' or in 'activation_fn_kwargs')")
    values = set(found.values())
    if len(values) > 1:
        raise bad("k", f"disagrees with itself: {found}")
    k = values.pop()
    if isinstance(k, bool) or not isinstance(k, int | float) or int(k) != k or k < 1:
        raise bad(next(iter(found)), f"must be a positive integer, got {k!r}")
    return chosen, int(k)


def _check_tensors(
    tensors: dict[str, Tensor], architecture: str, d_in: int, d_sae: int, source: Path
) -> dict[str, Tensor]:
    """The tensors an SAE needs, as float32, with their shapes checked against cfg.json."""
    out = dict(tensors)
    if "log_threshold" in out and "threshold" not in out:
        out["threshold"] = out.pop("log_threshold").exp()
    if "topk_threshold" in out and "threshold" not in out:
        out["threshold"] = out.pop("topk_threshold")
    if "scaling_factor" in out:
        sf = out.pop("scaling_factor")
        if not torch.allclose(sf.float(), torch.ones_like(sf, dtype=torch.float32)):
            raise ValueError(
                f"{source}: tensor 'scaling_factor' is not all ones; finetuned scaling is unsupported"
            )
    needs_threshold = architecture in ("jumprelu", "batchtopk")
    if "threshold" in out and not needs_threshold:
        out.pop("threshold")
    expected = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    if needs_threshold:
        expected["threshold"] = (d_sae,)
    missing = sorted(set(expected) - set(out))
    if missing:
        raise ValueError(f"{source}: missing tensors {missing} (has {sorted(out)}) for a {architecture} SAE")
    extra = sorted(set(out) - set(expected))
    if extra:
        raise ValueError(
            f"{source}: unexpected tensors {extra}; this SAE has parts valuescope does not model"
        )
    if needs_threshold and out["threshold"].numel() == 1:
        out["threshold"] = out["threshold"].reshape(()).expand(d_sae).clone()
    for name, shape in expected.items():
        got = tuple(out[name].shape)
        if got != shape:
            hint = " (transposed?)" if got == shape[::-1] and len(shape) == 2 else ""
            raise ValueError(
                f"{source}: tensor {name!r} has shape {got}, but cfg.json (d_in={d_in}, d_sae={d_sae}) "
                f"needs {shape}{hint}"
            )
        t = out[name].to(torch.float32)
        if not torch.isfinite(t).all():
            raise ValueError(f"{source}: tensor {name!r} has NaN or infinite entries")
        out[name] = t
    return out


def _scaler_file(path: Path) -> float | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from e
    value = data.get("scaling_factor") if isinstance(data, dict) else None
    return None if value is None else value


def _saelens_metadata(cfg: dict[str, Any]) -> dict[str, Any]:
    """Model and hook fields of a SAELens cfg.json: top level (older releases) or under 'metadata' (6.x)."""
    meta: dict[str, Any] = {"source": "sae_lens"}
    for old, new in (("hook_point", "hook_name"), ("hook_point_layer", "hook_layer")):
        if cfg.get(old) is not None and new not in cfg:
            meta[new] = cfg[old]
    for nested in (cfg, cfg.get("meta"), cfg.get("metadata")):
        if isinstance(nested, dict):
            meta.update({key: nested[key] for key in _SAELENS_META if nested.get(key) is not None})
    if isinstance(cfg.get("dtype"), str):
        meta["source_dtype"] = cfg["dtype"]
    if isinstance(meta.get("hook_name"), str):
        meta["read_point"] = read_point_from_hook(meta["hook_name"])
    return meta
