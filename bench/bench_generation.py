"""Sampled generation speed: valuescope's ``generate`` against transformers' ``model.generate``.

Gemma-3-270M in float32 on the CPU, temperature 1, top-p 0.95 (no top-k), 64 new tokens, prompts
of 10-18 tokens (the package's neutral reference sentences), at batch 1, 8 and 32. Both contenders
run in this one process on the same prompts, round-robin (each repeat runs every setting once),
and the median is reported. Tokens/s counts the tokens each row generated up to and including
its EOS (transformers keeps computing finished rows; those padding tokens are not counted).

llama.cpp is not measured here: building it takes minutes on this machine.

Run ``python -m bench.bench_generation [--quick] [--threads N]`` for a markdown table.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

BENCHMARK = "generation"
TITLE = "Sampled generation (temperature 1, top-p 0.95), tokens/s"
MODEL = "gemma-3-270m"
BATCHES = (1, 8, 32)
NEW_TOKENS = 64
NEW_TOKENS_QUICK = 16
REPEATS = 2
REPEATS_QUICK = 1
TOP_P = 0.95
TEMPERATURE = 1.0
TARGET_BATCH, TARGET_RATIO = 32, 2.5


def _log(msg: str) -> None:
    print(f"[bench_generation] {msg}", file=sys.stderr, flush=True)


@dataclass
class Contender:
    name: str
    batch: int
    fn: Callable[[int, int], int]
    """Runs once with (seed, new tokens); returns the number of tokens generated."""
    times: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    error: str | None = None


def prompts(lm: Any, n: int) -> list[str]:
    """The first ``n`` neutral reference sentences (10-18 tokens with BOS on Gemma)."""
    from valuescope.language_model import reference_texts

    texts = reference_texts()
    if n > len(texts):
        raise ValueError(f"only {len(texts)} reference sentences")
    return texts[:n]


def _valuescope(lm: Any, texts: list[str]) -> Callable[[int, int], int]:
    from valuescope.readout.generation import generate

    def fn(seed: int, new_tokens: int) -> int:
        out = generate(
            lm, texts, max_new_tokens=new_tokens, temperature=TEMPERATURE, top_p=TOP_P, seed=seed,
            batch_size=len(texts), progress=False, return_details=True,
        )  # fmt: skip
        return sum(len(g.token_ids) for g in out)

    return fn


def _transformers(lm: Any, texts: list[str]) -> Callable[[int, int], int]:
    tok = lm.tokenizer
    side = tok.padding_side
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True)
    tok.padding_side = side
    width = enc["input_ids"].shape[1]
    eos = lm.model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])

    def fn(seed: int, new_tokens: int) -> int:
        torch.manual_seed(seed)
        with torch.inference_mode():
            out = lm.model.generate(
                **enc, do_sample=True, temperature=TEMPERATURE, top_p=TOP_P, top_k=0,
                max_new_tokens=new_tokens, pad_token_id=tok.pad_token_id,
            )  # fmt: skip
        n = 0
        for row in out[:, width:].tolist():
            ends = [i for i, t in enumerate(row) if t in eos_ids]
            n += ends[0] + 1 if ends else len(row)
        return n

    return fn


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time both contenders at every batch size; one row per contender and batch size."""
    from valuescope import load_model

    lm = load_model(MODEL)
    new_tokens = NEW_TOKENS_QUICK if quick else NEW_TOKENS
    repeats = REPEATS_QUICK if quick else REPEATS
    threads = torch.get_num_threads()
    _log(f"{MODEL} ({lm.model.dtype}, {threads} threads), {new_tokens} new tokens, {repeats} repeats")
    contenders: list[Contender] = []
    for b in BATCHES:
        texts = prompts(lm, b)
        contenders.append(Contender("valuescope generate", b, _valuescope(lm, texts)))
        contenders.append(Contender("transformers generate", b, _transformers(lm, texts)))
    for c in contenders:  # warm-up at a few tokens, also catches failures
        try:
            c.fn(0, 4)
        except Exception as e:
            c.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            _log(f"warm-up {c.name} @ {c.batch} failed: {c.error}")
    live = [c for c in contenders if c.error is None]
    for r in range(repeats):
        for c in live:
            t0 = time.perf_counter()
            c.tokens.append(c.fn(r + 1, new_tokens))
            c.times.append(time.perf_counter() - t0)
            _log(f"repeat {r + 1}/{repeats} {c.name} @ {c.batch}: {c.tokens[-1] / c.times[-1]:.1f} tok/s")
    return _rows(contenders, new_tokens)


def _rows(contenders: list[Contender], new_tokens: int) -> list[dict[str, Any]]:
    rates: dict[tuple[str, int], list[float]] = {}
    for c in contenders:
        rates[(c.name, c.batch)] = [n / t for n, t in zip(c.tokens, c.times, strict=True)]
    rows: list[dict[str, Any]] = []
    for c in contenders:
        row: dict[str, Any] = {"contender": c.name, "batch": c.batch, "new_tokens": new_tokens}
        if c.error is not None or not c.times:
            row["error"] = c.error or "no timings"
            rows.append(row)
            continue
        mine = rates[(c.name, c.batch)]
        base = rates.get(("transformers generate", c.batch)) or []
        row["tokens_per_s"] = round(statistics.median(mine), 1)
        row["spread"] = f"{min(mine):.1f}-{max(mine):.1f}"
        row["repeats"] = len(mine)
        row["ratio_vs_generate"] = (
            round(statistics.median(mine) / statistics.median(base), 2) if base else None
        )
        rows.append(row)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's target, with passed True/False (None if it could not be measured)."""
    ratio = next(
        (r.get("ratio_vs_generate") for r in rows
         if r["contender"] == "valuescope generate" and r["batch"] == TARGET_BATCH),
        None,
    )  # fmt: skip
    name = f"batch {TARGET_BATCH} at least {TARGET_RATIO}x transformers generate"
    if ratio is None:
        return [{"target": name, "passed": None, "detail": "not measured"}]
    return [{"target": name, "passed": ratio >= TARGET_RATIO, "detail": f"{ratio:.2f}x"}]


COLUMNS = [
    ("contender", "contender"),
    ("batch", "batch"),
    ("tokens_per_s", "tokens/s (median)"),
    ("spread", "min-max"),
    ("ratio_vs_generate", "× transformers generate"),
]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if "error" in r:
            cells = [str(r["contender"]), str(r["batch"]), f"**failed**: {r['error']}", "", ""]
        else:
            cells = [str(r.get(k, "")) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if rows:
        lines.append(
            f"\n{MODEL} float32 on CPU ({torch.get_num_threads()} threads), temperature {TEMPERATURE}, "
            f"top-p {TOP_P}, top-k off, {rows[0]['new_tokens']} new tokens, prompts of 10-18 tokens. "
            "llama.cpp not measured (not built here)."
        )
    return "\n".join(lines)


def targets_markdown(results: list[dict[str, Any]]) -> str:
    mark = {True: "✔", False: "✘", None: "?"}
    return "\n".join(f"- {mark[t['passed']]} {t['target']}: {t['detail']}" for t in results)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--threads" in args:  # e.g. --threads 1 on a machine shared with other jobs
        torch.set_num_threads(int(args[args.index("--threads") + 1]))
    result = run(quick="--quick" in args)
    print(f"## {TITLE}\n")
    print(markdown(result))
    print()
    print(targets_markdown(targets(result)))
