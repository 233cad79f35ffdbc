"""Many steering edits, the way the mechanisms study uses them: ten vectors, each applied while
generating answers to the same prompts, and the damage of each edit on neutral text.

Generation (Gemma-3-270M, float32, CPU, greedy, 32 new tokens, 4 prompts x 10 vectors at read
point 9): ``lm.steer_each`` (one batched generation, each prompt with its own vector) against
``lm.steer`` + ``generate`` once per vector (how steering-vectors and repeng apply a vector: one
at a time) and against plain transformers (a forward hook on the decoder layer, ``model.generate``
once per vector). All three give the same texts; the benchmark checks it. Damage (KL on 8 neutral
sentences) of the same 10 edits: ``DamageMeter`` (the unedited pass once) against ``lm.damage`` per
edit. Contenders run in this one process, round-robin; the median of the repeats is reported.
steering-vectors and repeng are not installed here; their one-vector-at-a-time loop is the middle
contender.

Run ``python -m bench.bench_steering [--quick]`` for a markdown table.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

BENCHMARK = "steering"
TITLE = "Many steering edits: batched per-prompt steering and shared damage baseline"
MODEL = "gemma-3-270m"
READ_POINT = 9
N_VECTORS, N_PROMPTS, NEW_TOKENS, ALPHA = 10, 4, 32, 0.2
REPEATS, REPEATS_QUICK = 2, 1
TARGETS = {"steer_each vs one generate per vector": 2.0, "DamageMeter vs damage per edit": 1.5}


def _log(msg: str) -> None:
    print(f"[bench_steering] {msg}", file=sys.stderr, flush=True)


def _setup(quick: bool) -> tuple[Any, list[str], torch.Tensor, list[str]]:
    from valuescope import load_model
    from valuescope.data.queries import load_queries
    from valuescope.language_model import reference_texts

    lm = load_model(MODEL)
    prompts = [f"Question: {q}\nAnswer:" for q in load_queries()["query"][:N_PROMPTS]]
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(N_VECTORS if not quick else 4, lm.d_model, generator=g)
    return lm, prompts, vectors, reference_texts()[:8]


def _contenders(
    lm: Any, prompts: list[str], vectors: torch.Tensor, texts: list[str], new: int
) -> dict[str, Callable[[], Any]]:
    from valuescope.readout.damage import DamageMeter

    n = len(prompts)
    norm = lm.mean_residual_norm(READ_POINT)

    def each() -> list[str]:
        with lm.steer_each(vectors.repeat_interleave(n, 0), [READ_POINT], alphas=ALPHA):
            return lm.generate(prompts * len(vectors), max_new_tokens=new, progress=False)

    def loop() -> list[str]:
        out: list[str] = []
        for v in vectors:
            with lm.steer(v, [READ_POINT], alpha=ALPHA):
                out += lm.generate(prompts, max_new_tokens=new, progress=False)
        return out

    layer = lm.layout.blocks[READ_POINT - 1]
    tok = lm.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    tok.padding_side = side
    width = enc["input_ids"].shape[1]

    def plain() -> list[str]:
        out: list[str] = []
        for v in vectors:
            delta = ALPHA * norm * v / v.norm()

            def hook(_m: Any, _a: Any, output: Any, delta: torch.Tensor = delta) -> Any:
                if isinstance(output, tuple):
                    return (output[0] + delta, *output[1:])
                return output + delta

            handle = layer.register_forward_hook(hook)
            try:
                with torch.inference_mode():
                    ids = lm.model.generate(
                        **enc, do_sample=False, max_new_tokens=new, pad_token_id=tok.pad_token_id
                    )
            finally:
                handle.remove()
            out += [t.strip() for t in tok.batch_decode(ids[:, width:], skip_special_tokens=True)]
        return out

    edits = [lm.steer(v, [READ_POINT], alpha=ALPHA) for v in vectors]

    def meter() -> list[float]:
        m = DamageMeter(lm, texts)
        return [m(e)["kl_mean"] for e in edits]

    def each_damage() -> list[float]:
        return [lm.damage(e, texts=texts)["kl_mean"] for e in edits]

    return {
        "valuescope steer_each (one batch)": each,
        "valuescope steer, one generate per vector": loop,
        "transformers hook + generate per vector": plain,
        "valuescope DamageMeter": meter,
        "valuescope damage per edit": each_damage,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    lm, prompts, vectors, texts = _setup(quick)
    new = 8 if quick else NEW_TOKENS
    contenders = _contenders(lm, prompts, vectors, texts, new)
    outputs = {name: fn() for name, fn in contenders.items()}  # warm-up, and the parity check
    gen = [k for k in outputs if "generate" in k or "steer_each" in k]
    same = [outputs[k] == outputs[gen[0]] for k in gen]
    same_texts = [[t.strip() for t in outputs[k]] == [t.strip() for t in outputs[gen[0]]] for k in gen]
    kl_equal = max(
        abs(a - b)
        for a, b in zip(outputs["valuescope DamageMeter"], outputs["valuescope damage per edit"], strict=True)
    )
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(REPEATS_QUICK if quick else REPEATS):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            _log(f"repeat {r + 1}: {name} {times[name][-1]:.2f}s")
    rows: list[dict[str, Any]] = []
    for name, ts in times.items():
        kind = "damage" if "amage" in name or "Meter" in name else "generation"
        rows.append(
            {
                "contender": name,
                "task": kind,
                "seconds": round(statistics.median(ts), 2),
                "spread": f"{min(ts):.2f}-{max(ts):.2f}",
                "repeats": len(ts),
                "vectors": len(vectors),
                "prompts": len(prompts),
                "new_tokens": new,
            }
        )
    base = {r["contender"]: r["seconds"] for r in rows}
    for row in rows:
        fastest = (
            "valuescope steer_each (one batch)" if row["task"] == "generation" else "valuescope DamageMeter"
        )
        row["x_slower_than_best"] = round(row["seconds"] / base[fastest], 2)
    rows.append(
        {
            "contender": "parity",
            "task": "check",
            "same_texts": all(same_texts),
            "same_exact": all(same),
            "max_kl_difference": kl_equal,
        }
    )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["contender"]: r for r in rows}
    out = []
    pairs = {
        "steer_each vs one generate per vector": (
            "valuescope steer, one generate per vector",
            "valuescope steer_each (one batch)",
        ),
        "DamageMeter vs damage per edit": ("valuescope damage per edit", "valuescope DamageMeter"),
    }
    for name, (slow, fast) in pairs.items():
        if slow not in by or fast not in by or "seconds" not in by[slow]:
            out.append(
                {"target": f"{name} at least {TARGETS[name]}x", "passed": None, "detail": "not measured"}
            )
            continue
        ratio = by[slow]["seconds"] / by[fast]["seconds"]
        out.append(
            {
                "target": f"{name} at least {TARGETS[name]}x",
                "passed": ratio >= TARGETS[name],
                "detail": f"{ratio:.2f}x",
            }
        )
    parity = by.get("parity", {})
    kl = parity.get("max_kl_difference", float("nan"))
    detail = (
        f"equal after stripping whitespace; byte-identical: {parity.get('same_exact')} (transformers' decode "
        f"drops the leading space); DamageMeter vs damage max |KL diff| {kl:.1e}"
    )
    name = "same greedy texts from all three generation contenders"
    out.append({"target": name, "passed": parity.get("same_texts"), "detail": detail})
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| contender | task | seconds (median) | min-max | × the fastest of its task |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["contender"] == "parity":
            continue
        lines.append(
            f"| {r['contender']} | {r['task']} | {r['seconds']} | {r['spread']} | {r['x_slower_than_best']} |"
        )
    first = next(r for r in rows if r["contender"] != "parity")
    lines.append(
        f"\n{MODEL} float32 on CPU ({torch.get_num_threads()} threads), read point {READ_POINT}, "
        f"{first['vectors']} vectors x {first['prompts']} prompts, {first['new_tokens']} new tokens "
        "(greedy); "
        "damage on 8 neutral sentences."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv[1:])
    print(f"## {TITLE}\n")
    print(markdown(result))
    for t in targets(result):
        print(t)
