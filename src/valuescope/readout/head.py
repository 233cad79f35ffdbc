"""The LM head on chosen hidden states, in the layout the CPU computes fastest.

On the CPU the product is taken as ``W @ h.T`` (vocab, n): MKL runs that form 1.3-1.6 times faster than
``h @ W.T`` for a 262k vocabulary at 48-240 rows (BENCHMARKS.md), and the results agree to rounding. The
logits stay in that (vocab, n) layout. Readers that need only the log-normaliser and a few target logits
(ratings, damage) get them without the vocabulary-wide logits: ``log_normaliser`` runs the head over
4096 vocabulary rows at a time and reduces each block while it is in cache (1.3-1.5x faster than the
product and then ``torch.logsumexp`` at 32-240 rows), and ``logits_at`` is one dot product per row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from valuescope.model import LocalModel


def softcap(lm: LocalModel) -> float | None:
    """The model's final-logit softcap (Gemma 2), or None."""
    config = lm.model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text_config, "final_logit_softcapping", None)
    return float(cap) if cap else None


class Head:
    """``lm``'s LM head (with its softcap) applied to hidden states after the final norm."""

    def __init__(self, lm: LocalModel) -> None:
        self.module = lm.layout.lm_head
        weight = self.module.weight
        assert isinstance(weight, torch.Tensor)
        self.weight = weight
        bias = getattr(self.module, "bias", None)
        self.bias = bias if isinstance(bias, torch.Tensor) else None
        self.cap = softcap(lm)
        self.device = weight.device

    @property
    def hooked(self) -> bool:
        """Whether something hooks the head module (then it is called as a module, hooks and all)."""
        return bool(self.module._forward_hooks or self.module._forward_pre_hooks)

    @property
    def linear(self) -> bool:
        """Whether the logits are an affine map of the hidden state (no softcap, no hook on the head)."""
        return self.cap is None and not self.hooked

    def logits_t(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` (n, d) -> float32 logits (vocab, n), softcap applied."""
        h = h.to(self.device)
        if self.hooked:
            out: torch.Tensor = self.module(h).float().t()
        elif self.device.type == "cpu":
            out = torch.mm(self.weight, h.to(self.weight.dtype).t()).float()
            if self.bias is not None:
                out += self.bias.float()[:, None]
        else:
            out = F.linear(h.to(self.weight.dtype), self.weight, self.bias).float().t()
        return self._capped(out)

    def _capped(self, z: torch.Tensor) -> torch.Tensor:
        if self.cap is not None:  # as the model does it: logits / cap, tanh, * cap
            z = torch.tanh(z / self.cap) * self.cap
        return z

    def log_normaliser(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` (n, d) -> (n,) float32 log-sum-exp of each row's logits."""
        if self.hooked or self.device.type != "cpu":
            return torch.logsumexp(self.logits_t(h), dim=0)
        tops, sums = [], []
        for _, z in self._blocks(h):
            top = z.amax(dim=0)
            tops.append(top)
            sums.append(z.sub_(top).exp_().sum(dim=0))
        top_all, sum_all = torch.stack(tops), torch.stack(sums)
        peak = top_all.amax(dim=0)
        return (peak + (sum_all * torch.exp(top_all - peak)).sum(dim=0).log()).float()

    def argmax(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` (n, d) -> (n,) the likeliest token of each row (the first of tied ones, as ``argmax`` of
        the full logits gives), reduced block by block on the CPU without the vocabulary-wide logits."""
        if self.hooked or self.device.type != "cpu":
            return self.logits_t(h).argmax(dim=0)
        tops, where = [], []
        for start, z in self._blocks(h):
            top, at = z.max(dim=0)
            tops.append(top)
            where.append(at + start)
        first = torch.stack(tops).argmax(dim=0)  # the first block holding the row's maximum
        return torch.stack(where).gather(0, first[None])[0]

    def _blocks(self, h: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
        """(first vocabulary row, logits (rows of the block, n)) of every block of ``_BLOCK`` head rows,
        bias and softcap applied, each written into one reused buffer (read it before the next)."""
        ht = h.to(self.device, self.weight.dtype).t()
        vocab = self.weight.shape[0]
        buffer = torch.empty(min(_BLOCK, vocab), ht.shape[1], dtype=self.weight.dtype)
        for start in range(0, vocab, _BLOCK):
            z = torch.mm(self.weight[start : start + _BLOCK], ht, out=buffer[: min(_BLOCK, vocab - start)])
            if self.bias is not None:
                z += self.bias[start : start + _BLOCK, None]
            if self.cap is not None:
                z.div_(self.cap).tanh_().mul_(self.cap)
            yield start, z

    def logits_at(self, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``h`` (n, d) and ``tokens`` (n,) -> (n,) float32 logit of ``tokens[i]`` at row i."""
        tokens = tokens.to(self.device)
        if self.hooked:
            return self.logits_t(h).gather(0, tokens[None])[0]
        z = (self.weight[tokens] * h.to(self.device, self.weight.dtype)).sum(dim=1)
        if self.bias is not None:
            z = z + self.bias[tokens]
        return self._capped(z.float())

    def log_probs_at(self, h: torch.Tensor, rows: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``h`` (n, d) -> (q,) float32 log-probability of ``tokens[j]`` after row ``rows[j]`` of ``h``; a
        hooked head runs once, on the n rows."""
        if self.hooked:
            z = self.logits_t(h)
            lse = torch.logsumexp(z, dim=0)
            rows, tokens = rows.to(z.device), tokens.to(z.device)
            return z[tokens, rows] - lse[rows]
        rows = rows.to(h.device)
        lse = self.log_normaliser(h).to(h.device)
        return self.logits_at(h[rows], tokens).to(h.device) - lse[rows]


_BLOCK = 4096
"""Vocabulary rows ``Head.log_normaliser`` multiplies and reduces at a time (a block stays in cache)."""
