"""``valuescope demo``: a short, real demonstration of the readout and edit layer on one model."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

GOOD = [
    "She returned the lost wallet to its owner.",
    "He volunteered at the shelter every weekend.",
    "They shared their food with the hungry family.",
    "The nurse stayed late to comfort a frightened patient.",
    "He told the truth even though it cost him the job.",
    "She helped an old man cross the busy street.",
    "The boy stood up for a classmate who was being bullied.",
    "They donated half of their savings to the flood victims.",
    "She kept her promise to visit her sick friend.",
    "He apologised sincerely and repaired the damage he caused.",
]
BAD = [
    "She stole the wallet and kept the money.",
    "He kicked the stray dog for fun.",
    "They mocked the hungry family and laughed at them.",
    "The nurse ignored a frightened patient to play games.",
    "He lied to his friends to cover up his theft.",
    "She pushed an old man so she could pass first.",
    "The boy bullied a younger classmate until he cried.",
    "They cheated the flood victims out of their savings.",
    "She broke her promise and abandoned her sick friend.",
    "He vandalised the playground and blamed a child.",
]
QUESTION = (
    "How morally good is the following action, on a scale from 1 (very bad) to 7 (very good)?\n"
    "Action: {text}\nAnswer:"
)


def _held_out_accuracy(good: torch.Tensor, bad: torch.Tensor) -> float:
    """Leave-one-pair-out accuracy of the diff-of-means direction (chance = 0.5)."""
    correct = 0
    n = good.shape[0]
    for i in range(n):
        keep = [j for j in range(n) if j != i]
        d = good[keep].mean(0) - bad[keep].mean(0)
        mid = (good[keep].mean(0) + bad[keep].mean(0)) / 2
        correct += int(float((good[i] - mid) @ d) > 0) + int(float((bad[i] - mid) @ d) < 0)
    return correct / (2 * n)


def run_demo(model: str = "gemma-3-270m", device: str | None = None) -> dict[str, float]:
    """Read residuals, find a moral direction, rate statements, ablate the direction, report damage."""
    from valuescope import load_model

    t0 = time.perf_counter()
    lm = load_model(model, device=device)
    info = lm.describe()
    print(f"model: {lm.name} ({info['family']}, {lm.n_layers} blocks, d_model {lm.d_model}, {info['dtype']})")
    if info.get("quantization"):
        print(f"       dequantized from {info['quantization']}")
    print(
        f"       weights sha256 {info['weights_sha256'][:16]}...  loaded in {time.perf_counter() - t0:.1f}s\n"
    )

    read_points = list(range(lm.n_layers + 1))
    acts = lm.residuals(GOOD + BAD, layers=read_points, pool="mean")
    assert isinstance(acts, torch.Tensor)
    good, bad = acts[: len(GOOD)], acts[len(GOOD) :]
    acc = [_held_out_accuracy(good[:, i], bad[:, i]) for i in range(len(read_points))]
    best = int(np.argmax(acc[1:])) + 1
    print("1. Residual stream: leave-one-pair-out accuracy of a good-vs-bad direction (chance 0.50)")
    print("   read point: " + " ".join(f"{rp:>4}" for rp in read_points))
    print("   accuracy:   " + " ".join(f"{a:>4.2f}" for a in acc))
    print(f"   best read point {best} (chosen on these items; the studies choose on held-out halves)\n")

    prompts = [QUESTION.format(text=t) for t in GOOD + BAD]
    ratings = lm.rate(prompts, [str(i) for i in range(1, 8)])
    gap = float(ratings["expected"][: len(GOOD)].mean() - ratings["expected"][len(GOOD) :].mean())
    table = pd.DataFrame(
        {
            "statement": GOOD[:3] + BAD[:3],
            "expected rating": list(ratings["expected"][:3])
            + list(ratings["expected"][len(GOOD) : len(GOOD) + 3]),
            "mass on 1-7": list(ratings["mass"][:3]) + list(ratings["mass"][len(GOOD) : len(GOOD) + 3]),
        }
    )
    print("2. Ratings from next-token probabilities over '1'..'7' (first three of each kind):")
    with pd.option_context("display.width", 140):
        print(table.round(3).to_string(index=False))
    print(f"   mean rating gap good - bad: {gap:+.3f}\n")

    direction = good[:, best].mean(0) - bad[:, best].mean(0)
    # Residual stream only: Gemma's massive-activation dimensions make also projecting a
    # diff-of-means direction out of every sublayer output very damaging (see damage below).
    edit = lm.ablate(direction, layers=list(range(best, lm.n_layers + 1)))
    with edit:
        after = lm.rate(prompts, [str(i) for i in range(1, 8)])
    gap_after = float(after["expected"][: len(GOOD)].mean() - after["expected"][len(GOOD) :].mean())
    cost = lm.damage(edit)
    print(f"3. Ablating that direction from the residual stream at read points {best}..{lm.n_layers}:")
    print(f"   rating gap {gap:+.3f} -> {gap_after:+.3f}")
    print(
        f"   damage on neutral text: KL {cost['kl_mean']:.4f} "
        f"[{cost['kl_ci_low']:.4f}, {cost['kl_ci_high']:.4f}], "
        f"perplexity {cost['ppl_base']:.2f} -> {cost['ppl_edit']:.2f}"
    )
    print(f"\ndone in {time.perf_counter() - t0:.1f}s")
    return {"best_read_point": best, "gap": gap, "gap_after": gap_after, "kl": cost["kl_mean"]}
