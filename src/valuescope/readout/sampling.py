"""Choosing the next token, reproducibly per prompt: greedy, temperature, top-k and top-p.

Sampling draws one uniform number per step from a ``torch.Generator`` seeded by (``seed``, the
prompt's index in the caller's list) and picks a token by inverse CDF over the probability-sorted
candidates, so a prompt's text depends only on its own logits and its own random stream, never on
the batch it shares. Top-p first looks at the few hundred most likely tokens and falls back to a
larger candidate set only for rows whose candidates hold less than ``top_p`` of the mass; the result
is exactly nucleus sampling (keep the most probable tokens while the mass before them is below
``top_p``). Equality across batch compositions is exact in arithmetic; in floating point a matrix
product of another shape can differ in the last bits, which flips a token only at a near tie."""

from __future__ import annotations

import numpy as np
import torch

from valuescope.readout.arguments import Sampling

N_CANDIDATES = 512
"""Tokens examined first for top-p; rows whose candidates hold less than ``top_p`` look further."""


def prompt_seed(seed: int, index: int) -> int:
    """The generator seed of the prompt at ``index`` in the caller's list."""
    state = np.random.SeedSequence([seed & (2**63 - 1), index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) | (int(state[1]) << 32)


def prompt_uniforms(indices: list[int], seed: int, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """(len(indices), steps) uniforms in [0, 1); row i comes from prompt ``indices[i]``'s own generator."""
    out = torch.empty(len(indices), steps, dtype=dtype)
    g = torch.Generator()
    for row, i in enumerate(indices):
        g.manual_seed(prompt_seed(seed, i))
        out[row] = torch.rand(steps, generator=g, dtype=dtype)
    return out


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor, n_keep: torch.Tensor | None = None) -> torch.Tensor:
    """Index j with cumsum[j-1] <= u * total < cumsum[j] per row; ``probs`` (n, k), ``u`` (n,)."""
    c = probs.cumsum(-1)
    j = torch.searchsorted(c, (u * c[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    limit = (n_keep - 1) if n_keep is not None else torch.full_like(j, probs.shape[-1] - 1)
    return torch.minimum(j, limit)


def _nucleus(sorted_probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero the tokens after the nucleus (keep a token while the mass before it is below ``top_p``);
    also returns how many were kept and the mass of all the given tokens."""
    c = sorted_probs.cumsum(-1)
    keep = (c - sorted_probs) < top_p
    return sorted_probs * keep, keep.sum(-1), c[:, -1]


def _sample_all(x: torch.Tensor, u: torch.Tensor, scratch: torch.Tensor | None) -> torch.Tensor:
    """Inverse-CDF sampling from softmax(x) over the whole vocabulary, in vocabulary order: first
    the block of tokens (cumulative block sums in ``u``'s precision), then the token inside it."""
    n, vocab = x.shape
    e = scratch[:n] if scratch is not None and scratch.shape[1] == vocab else torch.empty_like(x)
    torch.sub(x, x.amax(-1, keepdim=True), out=e).exp_()
    size = next((b for b in (256, 128, 64, 32, 16) if vocab % b == 0), None)
    if size is None:
        return _inverse_cdf(e.to(u.dtype), u)
    blocks = e.view(n, vocab // size, size)
    sums = blocks.sum(-1).to(u.dtype)  # float32 sums of 256 terms: a float64 sum is far slower
    before = sums.cumsum(-1) - sums  # mass of the blocks before each block
    target = u * (before[:, -1] + sums[:, -1])
    b = (torch.searchsorted(before, target.unsqueeze(-1), right=True).squeeze(-1) - 1).clamp_(min=0)
    rows = torch.arange(n, device=x.device)
    inside = _inverse_cdf(blocks[rows, b].to(u.dtype), (target - before[rows, b]) / sums[rows, b])
    return b * size + inside


def choose_tokens(
    logits: torch.Tensor,
    u: torch.Tensor,
    s: Sampling,
    n_candidates: int = N_CANDIDATES,
    scratch: torch.Tensor | None = None,
    owned: bool = False,
) -> torch.Tensor:
    """Next token per row from last-position ``logits`` (n, vocab) with uniforms ``u`` (n,).

    Top-p looks at the ``n_candidates`` most likely tokens; rows whose candidates hold less than
    ``top_p`` of the mass look again at 8 times as many, up to the whole (sorted) vocabulary.
    ``scratch`` (at least n rows, float32) saves allocating a vocabulary-wide buffer per step;
    ``owned`` lets the temperature divide ``logits`` in place.
    """
    if s.greedy:
        return logits.argmax(-1)
    x = logits.float()
    if s.temperature != 1.0:
        x = x.div_(s.temperature) if owned and x is logits else x / s.temperature
    n, vocab = x.shape
    pdt = u.dtype
    restricted = 0 < s.top_k < vocab
    if not restricted and s.top_p >= 1.0:  # the whole distribution, in vocabulary order
        return _sample_all(x, u, scratch)
    if restricted:  # a fixed candidate set: no search for the nucleus
        vals, idx = torch.topk(x, s.top_k, dim=-1)
        probs = torch.softmax(vals.to(pdt), -1)
        n_keep = None
        if s.top_p < 1.0:
            probs, n_keep, _ = _nucleus(probs, s.top_p)
        return idx.gather(-1, _inverse_cdf(probs, u, n_keep).unsqueeze(-1)).squeeze(-1)
    k = min(n_candidates, vocab)
    vals, idx = torch.topk(x, k, dim=-1)
    # exp(x - max) once for the whole vocabulary: its sum normalises, its entries are the weights.
    e = scratch[:n] if scratch is not None and scratch.shape[1] == vocab else torch.empty_like(x)
    torch.sub(x, vals[:, :1], out=e).exp_()
    z = e.sum(-1, keepdim=True).to(pdt)
    out = torch.empty(n, dtype=torch.long, device=x.device)
    pending: torch.Tensor | None = None  # rows still looking for their nucleus; None = all
    while True:
        zs, us = (z, u) if pending is None else (z[pending], u[pending])
        es = e if pending is None else e[pending]
        probs, n_keep, mass = _nucleus(es.gather(-1, idx).to(pdt) / zs, s.top_p)
        pick = idx.gather(-1, _inverse_cdf(probs, us, n_keep).unsqueeze(-1)).squeeze(-1)
        covered = mass >= s.top_p
        if k == vocab:
            covered[:] = True
        if pending is None:
            out = pick
            pending = torch.arange(n, device=x.device)
        else:
            out[pending[covered]] = pick[covered]
        if bool(covered.all()):
            return out
        pending = pending[~covered]
        k = min(vocab, k * 8)
        idx = torch.topk(x[pending], k, dim=-1).indices
