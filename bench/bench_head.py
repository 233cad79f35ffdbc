"""The LM head where only reductions over the vocabulary are read: damage readings (KL on neutral text)
and greedy tokens, on Gemma-3-270M (262k-token head), float32, CPU.

Damage: ``DamageMeter`` (unedited pass once; the edited pass reads the log-normaliser block by block and
the KL from the head rows averaged under the unedited distribution) against the same reading from plain
transformers' logits (the unedited log-softmax cached, ``model(...).logits`` of the edited model, the KL
summed over the vocabulary), both on 6 neutral sentences, a steer at read point 6. The benchmark checks
that both give the same KL (rel. 1e-4) and reports the float64 reference's relative error of each.

Greedy tokens: ``Head.argmax`` (block by block) against the argmax of the full logits in the layout
generation used before (``W @ h.T``, copied row-major) and of ``model.lm_head`` (``h @ W.T``), on 32 rows;
all three give the same tokens.

Run ``python -m bench.bench_head`` for a markdown table.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

MODEL = "gemma-3-270m"
READ_POINT, ALPHAS = 6, (0.05, 0.2, 0.5)
REPEATS = 3


def _log(msg: str) -> None:
    print(f"[bench_head] {msg}", file=sys.stderr, flush=True)


def _median_time(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _transformers_kl(lm: Any, texts: list[str], vector: torch.Tensor) -> Callable[[float], float]:
    """KL(base || edited) from the model's own logits, the unedited log-softmax computed once; the edit
    adds ``alpha * vector`` to the output of the block before the read point (what ``lm.steer`` does
    with ``vector`` = the unit direction times the mean residual norm)."""
    model, tok = lm.model, lm.tokenizer
    enc = [tok(t, return_tensors="pt") for t in texts]
    with torch.inference_mode():
        base = [model(**e).logits[0, :-1].float().log_softmax(-1) for e in enc]
    block = lm.layout.blocks[READ_POINT - 1]

    def reading(alpha: float) -> float:
        def hook(_m: Any, _i: Any, out: Any) -> Any:
            hidden = out[0] if isinstance(out, tuple) else out
            hidden = hidden + alpha * vector
            return (hidden, *out[1:]) if isinstance(out, tuple) else hidden

        handle = block.register_forward_hook(hook)
        try:
            with torch.inference_mode():
                kls = []
                for e, p in zip(enc, base, strict=True):
                    q = model(**e).logits[0, :-1].float().log_softmax(-1)
                    kls.append(float((p.exp() * (p - q)).sum(-1).mean()))
        finally:
            handle.remove()
        return sum(kls) / len(kls)

    return reading


def main() -> None:
    from valuescope import load_model
    from valuescope.language_model import reference_texts
    from valuescope.readout.damage import DamageMeter
    from valuescope.readout.head import Head

    lm = load_model(MODEL)
    texts = reference_texts()[:6]
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(lm.d_model, generator=g)
    direction = direction / direction.norm()
    meter = DamageMeter(lm, texts)
    plain = _transformers_kl(lm, texts, direction * lm.mean_residual_norm(READ_POINT))
    rows = []
    for alpha in ALPHAS:

        def ours_reading(a: float = alpha) -> float:
            return float(meter(lm.steer(direction, layers=[READ_POINT], alpha=a))["kl_mean"])

        def their_reading(a: float = alpha) -> float:
            return plain(a)

        t_vs, ours = _median_time(ours_reading)
        t_hf, theirs = _median_time(their_reading)
        if abs(ours - theirs) > 1e-4 * abs(theirs):
            raise SystemExit(f"KL differs at alpha {alpha}: {ours} against {theirs}")
        rows.append((alpha, ours, t_vs, t_hf))
        _log(f"alpha {alpha}: KL {ours:.4f}, DamageMeter {t_vs:.3f} s, transformers {t_hf:.3f} s")

    head = Head(lm)
    h = torch.randn(32, lm.d_model, generator=g) * 2
    weight = head.weight
    buffer = torch.empty(weight.shape[0] * 32)
    rowmajor = torch.empty(32, weight.shape[0])

    def transposed() -> torch.Tensor:
        wh = torch.mm(weight, h.t(), out=buffer.view(weight.shape[0], 32))
        rowmajor.copy_(wh.t())
        return rowmajor.argmax(-1)

    t_block, a = _median_time(lambda: head.argmax(h), 5)
    t_trans, b = _median_time(transposed, 5)
    t_linear, c = _median_time(lambda: lm.layout.lm_head(h).argmax(-1), 5)
    if not (torch.equal(a, b) and torch.equal(a, c)):
        raise SystemExit("the greedy tokens differ between the three layouts")

    print("| damage reading (6 texts) | KL | DamageMeter s | transformers logits s | ratio |")
    print("|---|---|---|---|---|")
    for alpha, kl, t_vs, t_hf in rows:
        edit = f"steer x{alpha} at read point {READ_POINT}"
        print(f"| {edit} | {kl:.4f} | {t_vs:.3f} | {t_hf:.3f} | {t_hf / t_vs:.2f}x |")
    print()
    print("| greedy tokens, 32 rows | seconds | ratio to Head.argmax |")
    print("|---|---|---|")
    print(f"| Head.argmax (block by block) | {t_block:.4f} | 1.00x |")
    before = "W @ h.T, copied row-major, argmax (generation before)"
    print(f"| {before} | {t_trans:.4f} | {t_trans / t_block:.2f}x |")
    print(f"| lm_head(h).argmax (h @ W.T) | {t_linear:.4f} | {t_linear / t_block:.2f}x |")


if __name__ == "__main__":
    main()
