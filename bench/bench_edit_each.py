"""Many edits answering the same prompts, the way the compliance step uses them: the unedited model, three
steering vectors and three subspace ablations at one read point, each answering the same instructions
and queries (mixed lengths, greedy, 16 new tokens).

Contenders, in this one process, round-robin, the median of the repeats reported:
- ``lm.edit_each``: one generation, each prompt under its own edit, in the batches ``decoding_batches``
  picks (up to 128 rows, split where padding the prefill costs more than extra steps);
- one ``lm.generate`` per edit in batches of 32 (how the compliance step ran before, and how
  steering-vectors and repeng apply an edit: one at a time);
- plain transformers: a forward hook on the decoder layer and ``model.generate`` once per edit.

The valuescope contenders must give the same texts (checked); transformers' ``generate`` pads and
decodes its own way, so its texts are compared after stripping whitespace.

Run ``python -m bench.bench_edit_each [--quick]`` for a markdown table.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

BENCHMARK = "edit_each"
TITLE = "Many edits answering the same prompts: one batched generation against one per edit"
MODEL = "gemma-3-270m"
READ_POINT = 12
N_PROMPTS, NEW_TOKENS, ALPHA, RANK = 24, 16, 0.3, 4
REPEATS, REPEATS_QUICK = 2, 1
TARGETS = {"edit_each vs one generate per edit": 1.5}


def _log(msg: str) -> None:
    print(f"[bench_edit_each] {msg}", file=sys.stderr, flush=True)


def _setup(quick: bool) -> tuple[Any, list[str], list[Any]]:
    from valuescope import load_model
    from valuescope.data.instructions import load_instructions
    from valuescope.data.queries import load_queries

    lm = load_model(MODEL)
    n = N_PROMPTS // 2 if not quick else 4
    asked = list(load_instructions()["text"][:n]) + list(load_queries()["query"][:n])
    prompts = [f"Question: {q}\nAnswer:" for q in asked]
    g = torch.Generator().manual_seed(0)
    edits: list[Any] = [None]
    for _ in range(3 if not quick else 1):
        edits.append(lm.steer(torch.randn(lm.d_model, generator=g), [READ_POINT], alpha=ALPHA))
        basis, _ = torch.linalg.qr(torch.randn(lm.d_model, RANK, generator=g))
        edits.append(lm.edit_subspace(basis.T, torch.zeros(RANK, RANK), [READ_POINT], keep_special=False))
    return lm, prompts, edits


def _hook_fn(lm: Any, edit: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The edit's residual rewrite as plain tensor math, for the transformers contender."""
    if hasattr(edit, "basis"):
        b = edit.basis
        return lambda h: h - (h @ b.T) @ b
    delta = edit.added(READ_POINT)
    return lambda h: h + delta


def _contenders(lm: Any, prompts: list[str], edits: list[Any], new: int) -> dict[str, Callable[[], Any]]:
    n = len(prompts)

    def each() -> list[str]:
        which = [j for j in range(len(edits)) for _ in range(n)]
        with lm.edit_each(edits, which):
            return lm.generate(prompts * len(edits), max_new_tokens=new, progress=False)

    def loop() -> list[str]:
        out: list[str] = []
        for edit in edits:
            if edit is None:
                out += lm.generate(prompts, max_new_tokens=new, progress=False, batch_size=32)
                continue
            with edit:
                out += lm.generate(prompts, max_new_tokens=new, progress=False, batch_size=32)
        return out

    layer = lm.layout.blocks[READ_POINT - 1]
    tok = lm.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    tok.padding_side = side
    width = enc["input_ids"].shape[1]

    def plain() -> list[str]:
        out: list[str] = []
        for edit in edits:
            fn = None if edit is None else _hook_fn(lm, edit)

            def hook(_m: Any, _a: Any, output: Any, fn: Any = fn) -> Any:
                if isinstance(output, tuple):
                    return (fn(output[0]), *output[1:])
                return fn(output)

            handle = layer.register_forward_hook(hook) if fn is not None else None
            try:
                with torch.inference_mode():
                    ids = lm.model.generate(
                        **enc, do_sample=False, max_new_tokens=new, pad_token_id=tok.pad_token_id
                    )
            finally:
                if handle is not None:
                    handle.remove()
            out += [t.strip() for t in tok.batch_decode(ids[:, width:], skip_special_tokens=True)]
        return out

    return {
        "valuescope edit_each (one generation)": each,
        "valuescope, one generate per edit (batches of 32)": loop,
        "transformers hook + generate per edit": plain,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    lm, prompts, edits = _setup(quick)
    new = 8 if quick else NEW_TOKENS
    contenders = _contenders(lm, prompts, edits, new)
    outputs = {name: fn() for name, fn in contenders.items()}  # warm-up, and the parity check
    names = list(contenders)
    same_exact = outputs[names[0]] == outputs[names[1]]
    stripped = [[t.strip() for t in outputs[k]] for k in names]
    agree_plain = sum(a == b for a, b in zip(stripped[0], stripped[2], strict=True)) / len(stripped[0])
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(REPEATS_QUICK if quick else REPEATS):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            _log(f"repeat {r + 1}: {name} {times[name][-1]:.2f}s")
    best = statistics.median(times[names[0]])
    rows: list[dict[str, Any]] = [
        {
            "contender": name,
            "seconds": round(statistics.median(ts), 2),
            "spread": f"{min(ts):.2f}-{max(ts):.2f}",
            "repeats": len(ts),
            "edits": len(edits),
            "prompts": len(prompts),
            "new_tokens": new,
            "x_slower_than_best": round(statistics.median(ts) / best, 2),
        }
        for name, ts in times.items()
    ]
    rows.append({"contender": "parity", "same_exact": same_exact, "share_equal_to_transformers": agree_plain})
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["contender"]: r for r in rows}
    name = "edit_each vs one generate per edit"
    slow, fast = (
        by["valuescope, one generate per edit (batches of 32)"],
        by["valuescope edit_each (one generation)"],
    )
    ratio = slow["seconds"] / fast["seconds"]
    parity = by["parity"]
    plain = parity["share_equal_to_transformers"]
    return [
        {
            "target": f"{name} at least {TARGETS[name]}x",
            "passed": ratio >= TARGETS[name],
            "detail": f"{ratio:.2f}x",
        },
        {
            "target": "edit_each gives each prompt the texts of its own edit",
            "passed": parity["same_exact"],
            "detail": f"transformers' texts equal after stripping: {plain:.0%}",
        },
    ]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| contender | seconds (median) | min-max | × edit_each |", "|---|---|---|---|"]
    timed = [r for r in rows if r["contender"] != "parity"]
    for r in timed:
        lines.append(f"| {r['contender']} | {r['seconds']} | {r['spread']} | {r['x_slower_than_best']} |")
    first = timed[0]
    lines.append(
        f"\n{MODEL} float32 on CPU ({torch.get_num_threads()} threads), read point {READ_POINT}, "
        f"{first['edits']} edits (none, steers, rank-{RANK} ablations) x {first['prompts']} prompts, "
        f"{first['new_tokens']} new tokens (greedy)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv[1:])
    print(f"## {TITLE}\n")
    print(markdown(result))
    for t in targets(result):
        print(t)
