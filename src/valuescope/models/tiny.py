"""Tiny randomly initialised models of several families, for tests only.

Each is built locally from a config with a fixed seed and comes with a real tokenizer
(trained here, deterministically, on the package's neutral reference text) that has the
Likert digit tokens and a chat template.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Olmo2Config,
    Phi3Config,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen3Config,
)
from transformers.models.gemma3 import Gemma3TextConfig

from valuescope.data.reference import reference_texts

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TURN_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>"
    "{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

_VOCAB = 640
_SPECIALS_BYTE = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
_SPECIALS_SP = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]


def _corpus() -> list[str]:
    lines = reference_texts()
    digits = [f"Rate it from 1 to 7: {d}" for d in "1234567"] + ["0 1 2 3 4 5 6 7 8 9 10"]
    return lines + digits


@functools.cache
def _byte_level_tokenizer() -> Tokenizer:
    """GPT-2 style byte-level BPE: a leading space is part of the token (" 1")."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB,
        special_tokens=_SPECIALS_BYTE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    return tok


@functools.cache
def _sentencepiece_like_tokenizer() -> Tokenizer:
    """Llama/Gemma style: spaces become '▁' and digits always split off on their own."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("▁", behavior="merged_with_next"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " ")])
    trainer = trainers.BpeTrainer(vocab_size=_VOCAB, special_tokens=_SPECIALS_SP, show_progress=False)
    tok.train_from_iterator(_corpus(), trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    return tok


def tiny_tokenizer(style: str) -> PreTrainedTokenizerFast:
    """A fresh transformers tokenizer of the given style ("byte" or "sp")."""
    if style == "byte":
        return PreTrainedTokenizerFast(
            tokenizer_object=_byte_level_tokenizer(),
            bos_token="<|endoftext|>",
            eos_token="<|im_end|>",
            pad_token="<pad>",
            chat_template=CHATML_TEMPLATE,
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=_sentencepiece_like_tokenizer(),
        bos_token="<bos>",
        eos_token="<end_of_turn>",
        pad_token="<pad>",
        unk_token="<unk>",
        chat_template=TURN_TEMPLATE,
    )


_BYTE_IDS = dict(bos_token_id=0, eos_token_id=2, pad_token_id=3)  # <|endoftext|>, <|im_end|>, <pad>
_SP_IDS = dict(bos_token_id=2, eos_token_id=5, pad_token_id=0)  # <bos>, <end_of_turn>, <pad>
_SMALL: dict[str, Any] = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
    max_position_embeddings=512, vocab_size=_VOCAB, tie_word_embeddings=False,
)  # fmt: skip
_GQA: dict[str, Any] = dict(num_key_value_heads=2, head_dim=16)
_GEMMA: dict[str, Any] = dict(num_key_value_heads=1, head_dim=16, sliding_window=8, tie_word_embeddings=True)


@dataclass(frozen=True)
class TinySpec:
    config: type[PretrainedConfig]
    style: str
    """Tokenizer style: 'byte' (GPT-2-like BPE) or 'sp' (sentencepiece-like, digits split)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    random_norms: bool = False
    """Randomise norm weights, so that norm gains (Gemma's 1 + w) are not all one."""

    def build_config(self) -> PretrainedConfig:
        ids = _BYTE_IDS if self.style == "byte" else _SP_IDS
        return self.config(**{**_SMALL, **ids, **self.overrides})


TINY_MODELS: dict[str, TinySpec] = {
    "tiny-gpt2": TinySpec(
        GPT2Config, "byte",
        dict(n_embd=64, n_layer=4, n_head=4, n_positions=512, pad_token_id=None),
    ),
    "tiny-llama": TinySpec(LlamaConfig, "sp", dict(num_key_value_heads=2)),
    "tiny-qwen3": TinySpec(Qwen3Config, "byte", _GQA),
    "tiny-gemma3": TinySpec(
        Gemma3TextConfig, "sp",
        dict(**_GEMMA, layer_types=["sliding_attention"] * 3 + ["full_attention"]),
        random_norms=True,
    ),
    "tiny-gptneox": TinySpec(
        GPTNeoXConfig, "byte",
        dict(rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}),
    ),
    "tiny-mistral": TinySpec(MistralConfig, "sp", dict(**_GQA, sliding_window=None)),
    "tiny-qwen2": TinySpec(Qwen2Config, "byte", dict(num_key_value_heads=2, tie_word_embeddings=True)),
    "tiny-phi3": TinySpec(Phi3Config, "sp", dict(num_key_value_heads=2)),
    "tiny-olmo2": TinySpec(Olmo2Config, "byte", dict(num_key_value_heads=2), random_norms=True),
    "tiny-gemma2": TinySpec(
        Gemma2Config, "sp", dict(**_GEMMA, final_logit_softcapping=3.0), random_norms=True
    ),
}  # fmt: skip


def build_tiny(name: str, seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Build the named tiny model with fixed random weights, and its tokenizer."""
    spec = TINY_MODELS[name]
    config = spec.build_config()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        if spec.random_norms:
            for p_name, p in model.named_parameters():
                if "norm" in p_name:
                    torch.nn.init.normal_(p, std=0.3)
    model.eval()
    return model, tiny_tokenizer(spec.style)
