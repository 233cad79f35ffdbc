"""What an edit costs: KL divergence and perplexity change on neutral reference text."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from valuescope.readout.batching import encode, make_batches, validate_items
from valuescope.readout.capture import record_blocks, replay_blocks, replayable_blocks
from valuescope.readout.logprob import next_token_logprobs
from valuescope.stats.metrics import metric

if TYPE_CHECKING:
    from valuescope.model import Edit, LocalModel


def damage(
    lm: LocalModel,
    intervention: Edit,
    texts: Sequence[str] | None = None,
    batch_size: int = 8,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean KL(base || edited) of next-token distributions and the perplexity change on ``texts``.

    Defaults to the package's neutral reference sentences. Returns ``kl_mean`` with a 95% bootstrap
    interval over texts (``kl_ci_low``, ``kl_ci_high``), ``kl_max`` (the worst text), ``ppl_base``,
    ``ppl_edit``, ``ppl_ratio`` (edited / base) with its interval from the same resamples
    (``ppl_ratio_ci_low``, ``ppl_ratio_ci_high``), ``n_texts`` and ``n_tokens``.
    """
    return DamageMeter(lm, texts, batch_size, n_boot, seed, keep_base=False)(intervention)


class DamageMeter:
    """``damage`` for many edits on the same texts: the unedited log-probabilities are computed once
    (kept in memory, so keep ``texts`` short: tokens x vocabulary floats) and reused by every call."""

    def __init__(
        self,
        lm: LocalModel,
        texts: Sequence[str] | None = None,
        batch_size: int = 8,
        n_boot: int = 1000,
        seed: int = 0,
        *,
        keep_base: bool = True,
    ) -> None:
        from valuescope.data.reference import reference_texts

        chosen = reference_texts() if texts is None else validate_items(texts, "texts")
        plain = [t for t in chosen if isinstance(t, str)]
        if len(plain) != len(chosen):
            raise TypeError("damage texts must be plain strings, not (context, text) pairs")
        encoded = [encode(lm.tokenizer, t) for t in plain]
        if any(len(e.ids) < 2 for e in encoded):
            raise ValueError("damage texts are too short: each needs at least two tokens")
        pad = lm.tokenizer.pad_token_id or 0
        self.lm, self.n_texts, self.n_boot, self.seed = lm, len(plain), n_boot, seed
        self.batches = list(make_batches(encoded, batch_size, pad))
        self.keep_base = keep_base
        self._base: list[torch.Tensor] | None = None
        self._blocks: list[list[object]] = [[] for _ in self.batches]
        """Per batch: every block's unedited output (see ``readout.capture.record_blocks``)."""

    def _base_logprobs(self, i: int) -> torch.Tensor:
        """The unedited log-probabilities of batch ``i``; records every block's output on the way, so
        that an edit can reuse the blocks before the first one it touches (``replay_blocks``)."""
        if not self.keep_base:
            self._blocks = [[] for _ in self.batches]
            with record_blocks(self.lm.layout, self._blocks[i]):
                return next_token_logprobs(self.lm, self.batches[i])
        if self._base is None:
            if self.lm.active_interventions:
                raise RuntimeError("create the first damage reading with no intervention active on the model")
            self._blocks = [[] for _ in self.batches]
            with torch.inference_mode():
                base = []
                for b, batch in enumerate(self.batches):
                    with record_blocks(self.lm.layout, self._blocks[b]):
                        base.append(next_token_logprobs(self.lm, batch))
                self._base = base
        return self._base[i]

    def __call__(self, intervention: Edit) -> dict[str, float]:
        lm, n = self.lm, self.n_texts
        if intervention in lm.active_interventions:
            raise RuntimeError(
                "call damage() outside the intervention's `with` block; it applies the edit itself"
            )
        kl_per_text = np.zeros(n)
        nll_base_text = np.zeros(n)
        nll_edit_text = np.zeros(n)
        tok_text = np.zeros(n)
        scratch: torch.Tensor | None = None
        with torch.inference_mode():
            for i, batch in enumerate(self.batches):
                base = self._base_logprobs(i)
                with intervention:
                    # blocks before the first one the edit (or anything else) hooks compute what they
                    # computed unedited: their recorded outputs stand in for them
                    skip = replayable_blocks(lm.layout)
                    with replay_blocks(lm.layout, self._blocks[i], skip):
                        edited = next_token_logprobs(lm, batch)
                targets = batch.input_ids[:, 1:].to(base.device)
                valid = batch.attention_mask[:, 1:].bool().to(base.device)
                idx = batch.index
                nll_base_text[idx] = (
                    -(base.gather(2, targets[..., None])[..., 0] * valid).sum(1).cpu().numpy()
                )
                nll_edit_text[idx] = (
                    -(edited.gather(2, targets[..., None])[..., 0] * valid).sum(1).cpu().numpy()
                )
                # KL = sum p_base * (log p_base - log p_edit), in buffers reused across batches (the
                # same products and sums as ``(base.exp() * (base - edited)).sum(-1)``)
                if scratch is None or scratch.numel() < base.numel():
                    scratch = torch.empty(base.numel(), dtype=base.dtype, device=base.device)
                probs = torch.exp(base, out=scratch[: base.numel()].view_as(base))
                diff = torch.sub(base, edited, out=edited)
                kl = torch.mul(probs, diff, out=diff).sum(-1)  # (batch, seq-1)
                kl_text = (kl * valid).sum(1) / valid.sum(1)
                kl_per_text[idx] = kl_text.cpu().numpy()
                tok_text[idx] = valid.sum(1).cpu().numpy()
        return _summarise(kl_per_text, nll_base_text, nll_edit_text, tok_text, self.n_boot, self.seed)


def _summarise(
    kl_per_text: np.ndarray,
    nll_base_text: np.ndarray,
    nll_edit_text: np.ndarray,
    tok_text: np.ndarray,
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    n = len(kl_per_text)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, (n_boot, n))
    boots = kl_per_text[draws].mean(1)
    n_tok = tok_text.sum()
    ppl_base = math.exp(nll_base_text.sum() / n_tok)
    ppl_edit = math.exp(nll_edit_text.sum() / n_tok)
    ratio = ppl_edit / ppl_base
    ratio_boots = np.exp((nll_edit_text[draws].sum(1) - nll_base_text[draws].sum(1)) / tok_text[draws].sum(1))
    kl_mean = float(kl_per_text.mean())
    return {
        "kl_mean": kl_mean,
        "kl_ci_low": min(kl_mean, float(np.quantile(boots, 0.025))),
        "kl_ci_high": max(kl_mean, float(np.quantile(boots, 0.975))),
        "kl_max": float(kl_per_text.max()),
        "ppl_base": ppl_base,
        "ppl_edit": ppl_edit,
        "ppl_ratio": ratio,
        "ppl_ratio_ci_low": min(ratio, float(np.quantile(ratio_boots, 0.025))),
        "ppl_ratio_ci_high": max(ratio, float(np.quantile(ratio_boots, 0.975))),
        "n_texts": float(n),
        "n_tokens": float(n_tok),
    }


def kl_metric(cost: Mapping[str, float], *, layer: int, note: str) -> dict[str, Any]:
    """An edit's KL on neutral text (a damage reading) as a metric: lower is better, the interval a
    bootstrap over the texts."""
    n = int(cost["n_texts"])
    return metric(
        cost["kl_mean"], cost["kl_ci_low"], cost["kl_ci_high"], n=n, layer=layer, better="lower", note=note
    )


def ppl_ratio_metric(cost: Mapping[str, float], *, layer: int, note: str) -> dict[str, Any]:
    """An edit's perplexity ratio (edited / base) on neutral text as a metric, like :func:`kl_metric`."""
    n = int(cost["n_texts"])
    return metric(
        cost["ppl_ratio"],
        cost["ppl_ratio_ci_low"],
        cost["ppl_ratio_ci_high"],
        n=n,
        layer=layer,
        better="lower",
        note=note,
    )
