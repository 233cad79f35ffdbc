"""Where each architecture keeps its blocks, norms, embeddings, LM head and MLP.

A new family is one entry in ``LAYOUTS``: dotted attribute paths relative to the
transformers ``*ForCausalLM`` model (``body``, ``blocks``, ...) or to one block (``mlp``, ...).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, replace

import torch
from torch import nn


@dataclass(frozen=True)
class FamilySpec:
    """Attribute paths of one architecture family."""

    body: str
    """The decoder body (``model.model``): runs embeddings and blocks, no LM head."""
    blocks: str
    """The ``nn.ModuleList`` of decoder blocks."""
    final_norm: str
    embed: str
    lm_head: str
    attn: str
    """Attention module inside a block (its output is the attention contribution)."""
    mlp: str
    """MLP module inside a block."""
    mlp_down: str
    """Down-projection inside the MLP; its input holds the neuron activations."""
    post_attn_norm: str | None = None
    """Norm applied to the attention output before it is added (Gemma); None if added raw."""
    post_mlp_norm: str | None = None
    """Norm applied to the MLP output before it is added (Gemma's post-feed-forward norm)."""
    down_is_conv1d: bool = False
    """GPT-2's ``Conv1D`` stores the weight as (in, out) instead of (out, in)."""
    norm_gain_offset: float = 0.0
    """Gemma RMSNorm multiplies by ``1 + weight``; 0 for norms that multiply by ``weight``."""


_LLAMA_LIKE = FamilySpec(
    body="model",
    blocks="model.layers",
    final_norm="model.norm",
    embed="model.embed_tokens",
    lm_head="lm_head",
    attn="self_attn",
    mlp="mlp",
    mlp_down="mlp.down_proj",
)

_GEMMA = replace(
    _LLAMA_LIKE,
    post_attn_norm="post_attention_layernorm",
    post_mlp_norm="post_feedforward_layernorm",
    norm_gain_offset=1.0,
)

LAYOUTS: dict[str, FamilySpec] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "phi3": _LLAMA_LIKE,
    "olmo2": FamilySpec(
        **{
            **_LLAMA_LIKE.__dict__,
            "post_attn_norm": "post_attention_layernorm",
            "post_mlp_norm": "post_feedforward_layernorm",
        }
    ),
    "gemma2": _GEMMA,
    "gemma3_text": _GEMMA,
    "gemma3": _GEMMA,
    "gpt2": FamilySpec(
        body="transformer",
        blocks="transformer.h",
        final_norm="transformer.ln_f",
        embed="transformer.wte",
        lm_head="lm_head",
        attn="attn",
        mlp="mlp",
        mlp_down="mlp.c_proj",
        down_is_conv1d=True,
    ),
    "gpt_neox": FamilySpec(
        body="gpt_neox",
        blocks="gpt_neox.layers",
        final_norm="gpt_neox.final_layer_norm",
        embed="gpt_neox.embed_in",
        lm_head="lm_head",
        attn="attention",
        mlp="mlp",
        mlp_down="mlp.dense_4h_to_h",
    ),
}


class UnsupportedFamilyError(ValueError):
    """Raised for a model_type without an entry in ``LAYOUTS``."""


def get_attr(root: nn.Module, path: str) -> nn.Module:
    obj: object = root
    for part in path.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        raise TypeError(f"{path} is {type(obj).__name__}, not a torch module")
    return obj


def _weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight.detach()


@dataclass
class Layout:
    """Resolved modules of one loaded model."""

    family: str
    spec: FamilySpec
    body: nn.Module
    blocks: nn.ModuleList
    final_norm: nn.Module
    embed: nn.Module
    lm_head: nn.Module

    @property
    def d_model(self) -> int:
        return int(_weight(self.embed).shape[1])

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @functools.cached_property
    def cache_argument(self) -> str:
        """Name of the body's KV-cache keyword: ``cache`` (transformers >= 5.24) or ``past_key_values``."""
        params = inspect.signature(self.body.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    @property
    def mlp_post_norm(self) -> bool:
        """True when the MLP output is normalised before it enters the residual stream."""
        return self.spec.post_mlp_norm is not None

    def attn(self, block: int) -> nn.Module:
        return get_attr(self.blocks[block], self.spec.attn)

    def mlp(self, block: int) -> nn.Module:
        return get_attr(self.blocks[block], self.spec.mlp)

    def mlp_down(self, block: int) -> nn.Module:
        return get_attr(self.blocks[block], self.spec.mlp_down)

    def attn_out(self, block: int) -> nn.Module:
        """The module whose output is exactly what attention adds to the residual stream."""
        spec = self.spec
        return get_attr(self.blocks[block], spec.post_attn_norm or spec.attn)

    def mlp_out(self, block: int) -> nn.Module:
        """The module whose output is exactly what the MLP adds to the residual stream."""
        spec = self.spec
        return get_attr(self.blocks[block], spec.post_mlp_norm or spec.mlp)

    def n_neurons(self, block: int) -> int:
        weight = self.down_weight(block)
        return int(weight.shape[1])

    def down_weight(self, block: int) -> torch.Tensor:
        """Down-projection as (d_model, n_neurons)."""
        weight = _weight(self.mlp_down(block))
        return weight.T if self.spec.down_is_conv1d else weight

    def neuron_write_directions(self, block: int) -> torch.Tensor:
        """Each neuron's effective write direction into the residual stream, (n_neurons, d_model).

        For families with a post-MLP norm this includes the norm's elementwise gain; the
        norm's division by the RMS of the whole MLP output scales every direction alike and
        is not part of it.
        """
        w = self.down_weight(block).float()
        if self.spec.post_mlp_norm is not None:
            norm = get_attr(self.blocks[block], self.spec.post_mlp_norm)
            gain = _weight(norm).float() + self.spec.norm_gain_offset
            w = w * gain[:, None]
        return w.T.contiguous()


def resolve_layout(model: nn.Module) -> Layout:
    """Find the layout of a transformers causal LM, or explain how to add its family."""
    config = getattr(model, "config", None)
    family = getattr(config, "model_type", type(model).__name__)
    spec = LAYOUTS.get(family)
    if spec is None:
        supported = ", ".join(sorted(LAYOUTS))
        raise UnsupportedFamilyError(
            f"model family {family!r} has no layout; supported: {supported}. "
            "To add it, put one FamilySpec entry for it in LAYOUTS in valuescope/models/layout.py."
        )
    blocks = get_attr(model, spec.blocks)
    if not isinstance(blocks, nn.ModuleList):
        raise TypeError(f"{family}: {spec.blocks} is not a ModuleList")
    return Layout(
        family=family,
        spec=spec,
        body=get_attr(model, spec.body),
        blocks=blocks,
        final_norm=get_attr(model, spec.final_norm),
        embed=get_attr(model, spec.embed),
        lm_head=get_attr(model, spec.lm_head),
    )
