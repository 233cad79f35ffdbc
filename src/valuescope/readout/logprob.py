"""Log-probabilities of texts under the model: how expected each item's wording is (a confound of
many value measurements: morally bad sentences often use rarer words)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from valuescope.model import Item
from valuescope.readout.batching import Batch, encode, make_batches, validate_items

if TYPE_CHECKING:
    from valuescope.model import LocalModel


def next_token_logprobs(lm: LocalModel, batch: Batch) -> torch.Tensor:
    """Next-token log-probabilities (batch, seq-1, vocab) for one right-padded batch; edits apply."""
    lm.last_positions = batch.last
    try:
        logits = lm.model(
            input_ids=batch.input_ids.to(lm.device),
            attention_mask=batch.attention_mask.to(lm.device),
            use_cache=False,
        ).logits
    finally:
        lm.last_positions = None
    return F.log_softmax(logits[:, :-1].float(), dim=-1)


def text_logprobs(
    lm: LocalModel,
    texts: Sequence[Item],
    *,
    batch_size: int = 8,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Sum and mean log-probability of each text's tokens, in input order.

    Items are strings or ``(context, text)`` pairs (then only the text's tokens are scored, given the
    context). A token can only be scored with something before it: the first token of a plain text
    counts when the tokenizer adds a BOS token (as Gemma's and Llama's do), not otherwise. Returns
    ``text``, ``n_tokens`` (scored), ``logprob`` (sum, natural log) and ``logprob_mean``.
    """
    items = validate_items(texts, "texts")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; it must be a positive integer")
    encoded = [encode(lm.tokenizer, it) for it in items]
    pad = lm.tokenizer.pad_token_id or 0
    total = np.zeros(len(items))
    count = np.zeros(len(items), dtype=int)
    batches = make_batches(encoded, batch_size, pad)
    show = progress if progress is not None else len(items) > 256
    with torch.inference_mode():
        for batch in tqdm(batches, desc="log-probs", unit="batch", disable=not show):
            lp = next_token_logprobs(lm, batch)
            targets = batch.input_ids[:, 1:].to(lp.device)
            scored = (batch.span_mask[:, 1:] & batch.attention_mask[:, 1:].bool()).to(lp.device)
            token_lp = lp.gather(2, targets[..., None])[..., 0]
            total[batch.index] = (token_lp * scored).sum(1).double().cpu().numpy()
            count[batch.index] = scored.sum(1).cpu().numpy()
    if (count == 0).any():
        bad = int(np.flatnonzero(count == 0)[0])
        raise ValueError(
            f"texts[{bad}] has no token that can be scored (a single token with no BOS or context)"
        )
    return pd.DataFrame(
        {
            "text": [it if isinstance(it, str) else it[1] for it in items],
            "n_tokens": count,
            "logprob": total,
            "logprob_mean": total / count,
        }
    )
