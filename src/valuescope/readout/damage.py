"""What an edit costs: KL divergence and perplexity change on neutral reference text."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from valuescope.readout.batching import Batch, encode, make_batches, validate_items
from valuescope.readout.capture import record_blocks, replay_blocks, replayable_blocks
from valuescope.readout.head import Head
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
    """``damage`` for many edits on the same texts: the unedited pass is computed once and reused by every
    call. Only the scored positions go through the LM head, in ``readout.head``'s layout.

    When the logits are an affine map of the final hidden state h (no softcap, nothing hooking the head),
    KL(base || edited) at a position is ``LSE(z) - LSE(z0) - E_p[w] . (h - h0)``, with z = W h + b, p the
    unedited next-token distribution and E_p[w] the head rows averaged under it: exactly the sum over the
    vocabulary, but the unedited pass keeps only h0, LSE(z0) and E_p[w] (positions x d_model floats, not
    positions x vocabulary) and an edited pass needs the log-normaliser and no vocabulary-wide products.
    Otherwise the unedited distribution is recomputed from h0 and the sum taken in full."""

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
        self.head = Head(lm)
        self.batches = list(make_batches(encoded, batch_size, pad))
        self.keep_base = keep_base
        self._base: list[_Unedited] | None = None
        self._blocks: list[list[object]] = [[] for _ in self.batches]
        """Per batch: every block's unedited output (see ``readout.capture.record_blocks``)."""

    def _unedited(self, i: int) -> _Unedited:
        """The unedited pass of batch ``i``; records every block's output on the way, so that an edit can
        reuse the blocks before the first one it touches (``replay_blocks``)."""
        if not self.keep_base:
            self._blocks = [[] for _ in self.batches]
            with record_blocks(self.lm.layout, self._blocks[i]):
                return _Unedited.of(self.head, self.batches[i], _scored_hidden(self.lm, self.batches[i]))
        if self._base is None:
            if self.lm.active_interventions:
                raise RuntimeError("create the first damage reading with no intervention active on the model")
            self._blocks = [[] for _ in self.batches]
            with torch.inference_mode():
                base = []
                for b, batch in enumerate(self.batches):
                    with record_blocks(self.lm.layout, self._blocks[b]):
                        base.append(_Unedited.of(self.head, batch, _scored_hidden(self.lm, batch)))
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
        with torch.inference_mode():
            for i, batch in enumerate(self.batches):
                base = self._unedited(i)
                with intervention:
                    # blocks before the first one the edit (or anything else) hooks compute what they
                    # computed unedited: their recorded outputs stand in for them
                    skip = replayable_blocks(lm.layout)
                    with replay_blocks(lm.layout, self._blocks[i], skip):
                        h = _scored_hidden(lm, batch)
                    kl, nll_edit = base.compare(self.head, h)
                idx = np.asarray(batch.index)
                rows = base.rows.numpy()
                per_text = np.bincount(rows, minlength=len(idx))
                kl_per_text[idx] = np.bincount(rows, kl.numpy(), len(idx)) / per_text
                nll_base_text[idx] = np.bincount(rows, base.nll.numpy(), len(idx))
                nll_edit_text[idx] = np.bincount(rows, nll_edit.numpy(), len(idx))
                tok_text[idx] = per_text
        return _summarise(kl_per_text, nll_base_text, nll_edit_text, tok_text, self.n_boot, self.seed)


_CHUNK = 256
"""Positions whose vocabulary-wide logits are held at once (vocab x 256 floats)."""


def _scored_hidden(lm: LocalModel, batch: Batch) -> torch.Tensor:
    """Final hidden states (positions, d_model) of every position followed by a real token, row by row, in
    one right-padded batch; active edits apply."""
    lm.last_positions = batch.last
    try:
        hidden = lm.layout.body(
            input_ids=batch.input_ids.to(lm.device),
            attention_mask=batch.attention_mask.to(lm.device),
            use_cache=False,
        ).last_hidden_state
    finally:
        lm.last_positions = None
    valid = batch.attention_mask[:, 1:].bool().to(hidden.device)
    scored: torch.Tensor = hidden[:, :-1][valid]
    return scored


@dataclass(frozen=True)
class _Unedited:
    """What an edited pass of one batch is compared with: per scored position, its text's row in the
    batch, the next token, the final hidden state, the log-normaliser, the NLL of the next token and (an
    affine head) the head rows averaged under the next-token distribution."""

    rows: torch.Tensor
    targets: torch.Tensor
    hidden: torch.Tensor
    lse: torch.Tensor
    nll: torch.Tensor
    mean_row: torch.Tensor | None

    @staticmethod
    def of(head: Head, batch: Batch, hidden: torch.Tensor) -> _Unedited:
        valid = batch.attention_mask[:, 1:].bool()
        rows = valid.nonzero()[:, 0]
        targets = batch.input_ids[:, 1:][valid].to(head.device)
        lse, target_logit, mean_row = [], [], []
        weight = head.weight.float()  # once, not per chunk; float32 whatever the model's dtype
        for start in range(0, len(hidden), _CHUNK):
            part = hidden[start : start + _CHUNK]
            lse.append(head.log_normaliser(part))  # as the edited pass computes it: a no-op edit gives 0
            target_logit.append(head.logits_at(part, targets[start : start + _CHUNK]))
            if head.linear:
                z = head.logits_t(part)  # (vocab, chunk)
                p = torch.exp(z.sub_(lse[-1]), out=z)
                mean_row.append(torch.mm(p.t(), weight).double())
        lse_all = torch.cat(lse)
        return _Unedited(
            rows=rows,
            targets=targets,
            hidden=hidden,
            lse=lse_all,
            nll=(lse_all - torch.cat(target_logit)).double().cpu(),
            mean_row=torch.cat(mean_row) if head.linear else None,
        )

    def compare(self, head: Head, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per scored position: KL(unedited || edited) and the edited NLL of the next token, from the
        edited final hidden states."""
        kl, nll = [], []
        for start in range(0, len(hidden), _CHUNK):
            part = slice(start, start + _CHUNK)
            lse = head.log_normaliser(hidden[part])
            nll.append(lse - head.logits_at(hidden[part], self.targets[part]))
            if self.mean_row is not None and head.linear:
                moved = (hidden[part].double() - self.hidden[part].double()).to(self.mean_row.device)
                kl.append((lse - self.lse[part]).double() - (moved * self.mean_row[part]).sum(1))
            else:  # the sum over the vocabulary, the unedited distribution recomputed from its hidden states
                base_lp = head.logits_t(self.hidden[part]) - self.lse[part]
                edited_lp = head.logits_t(hidden[part]) - lse
                kl.append((base_lp.exp() * (base_lp - edited_lp)).sum(0).double())
        return torch.cat(kl).cpu(), torch.cat(nll).double().cpu()


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
