"""Residual readout speed: valuescope against transformers, TransformerLens and nnsight.

Every contender runs in this one process on the same sentences, in the same length-sorted,
right-padded batches of 32 (built with valuescope's own batching), and pools the last token of
each sentence at the same read points. After a warm-up on 16 of the sentences (whose outputs are
checked against valuescope's), each repeat runs every contender on every batch, interleaved batch by
batch in a rotating order, so that load from other processes spreads evenly over the contenders; a
repeat's time is the sum over its batches and the median over repeats is reported.

valuescope's time includes its own tokenization and batching; the peers get the batches ready-made.
Peers that change the model (TransformerLens switches attention to eager; nnsight wraps modules)
get their own deep copy of the loaded model, so they cannot slow down or alter the others.

Run ``python -m bench.bench_residuals [--quick]`` for a markdown table.
"""

from __future__ import annotations

import contextlib
import copy
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

BENCHMARK = "residuals"
TITLE = "Residual readout (last-token pool, batch size 32)"
MODEL = "gemma-3-270m"
BATCH_SIZE = 32
MIDDLE = 9
N_SENTENCES = 256
N_QUICK = 64
REPEATS = 3
PARITY_SENTENCES = 16
REPEATS_QUICK = 3
MIN_TOKENS, MAX_TOKENS = 10, 30

# ----------------------------------------------------------------------------- sentences

_SUBJECTS = [
    "The old farmer",
    "A young teacher",
    "My neighbour",
    "The small dog",
    "Our new manager",
    "The tired nurse",
    "A quiet student",
    "The baker",
    "Her younger brother",
    "The city council",
    "A local artist",
    "The ship's captain",
    "Their grandmother",
    "The chess club",
    "A lost tourist",
]
_VERBS = [
    "painted",
    "repaired",
    "carried",
    "found",
    "ordered",
    "described",
    "cleaned",
    "borrowed",
    "measured",
    "delivered",
    "opened",
    "photographed",
    "sold",
    "counted",
    "planted",
]
_OBJECTS = [
    "the wooden fence",
    "a basket of apples",
    "the broken clock",
    "three heavy boxes",
    "the blue bicycle",
    "an old map of the harbour",
    "the kitchen window",
    "a stack of letters",
    "the garden shed",
    "two loaves of bread",
    "the library books",
    "a pair of boots",
]
_PHRASES = [
    "before lunch",
    "on Tuesday morning",
    "near the river",
    "with great care",
    "after the storm",
    "in the small village",
    "without any help",
    "for the annual fair",
    "behind the station",
    "during the long winter",
    "at the end of the street",
    "while the kettle boiled",
    "because the shop was closed",
    "next to the bakery",
    "under a grey sky",
    "as the sun went down",
    "before the guests arrived",
    "in less than an hour",
    "with a borrowed hammer",
    "although it was raining",
    "on the second floor",
    "for the third time this week",
]


def make_sentences(tokenizer: Any, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct templated sentences whose token counts (BOS included) spread evenly over 10-30."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    span = MAX_TOKENS - MIN_TOKENS + 1
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n:
            raise RuntimeError("could not generate enough sentences in the 10-30 token range")
        target = MIN_TOKENS + len(out) % span
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        phrases = rng.sample(_PHRASES, len(_PHRASES))
        text = " ".join(words) + "."
        n_tokens = len(tokenizer(text)["input_ids"])
        while n_tokens < target and phrases:
            words.append(phrases.pop())
            text = " ".join(words) + "."
            n_tokens = len(tokenizer(text)["input_ids"])
        if text in seen or not MIN_TOKENS <= n_tokens <= MAX_TOKENS or n_tokens > target + 2:
            continue
        seen.add(text)
        out.append(text)
    return out


# ----------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    group: str
    """'all' (all read points) or 'middle' (read point 9)."""
    name: str
    peer: str
    """'valuescope', 'transformers', 'TransformerLens' or 'nnsight'."""
    setting: str
    fn: Callable[[list[str], list[Any]], torch.Tensor]
    """(texts, their padded batches) -> (n, read points, d) float32 in input order."""
    prepare: Callable[[], None] | None = None
    baseline: bool = False
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    output: torch.Tensor | None = None
    error: str | None = None


def _pool_last(hidden: Sequence[torch.Tensor], last: torch.Tensor) -> torch.Tensor:
    """(batch, k, d) float32 on CPU: each hidden state's last real token."""
    rows = torch.arange(last.shape[0])
    return torch.stack([h[rows, last].float().cpu() for h in hidden], dim=1)


def _scatter(n: int, batches: Sequence[Any], pooled: Sequence[torch.Tensor]) -> torch.Tensor:
    out = torch.empty(n, *pooled[0].shape[1:])
    for batch, p in zip(batches, pooled, strict=True):
        out[torch.tensor(batch.index)] = p
    return out


def _by_batch(one: Callable[[Any], torch.Tensor]) -> Callable[[list[str], list[Any]], torch.Tensor]:
    def fn(texts: list[str], batches: list[Any]) -> torch.Tensor:
        with torch.inference_mode():
            return _scatter(len(texts), batches, [one(b) for b in batches])

    return fn


def _hf_contenders(lm: Any) -> list[Contender]:
    model = lm.model

    def full(b: Any) -> torch.Tensor:
        out = model(input_ids=b.input_ids, attention_mask=b.attention_mask, output_hidden_states=True)
        return _pool_last(out.hidden_states, b.last)

    def body(**kwargs: Any) -> Callable[[Any], torch.Tensor]:
        def one(b: Any) -> torch.Tensor:
            ids, mask = b.input_ids, b.attention_mask
            out = model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True, **kwargs)
            return _pool_last(out.hidden_states, b.last)

        return one

    return [
        Contender("all", "transformers full forward", "transformers",
                  "`model(**batch, output_hidden_states=True)`", _by_batch(full)),
        Contender("all", "bare body forward", "transformers",
                  "`model.model(**batch, output_hidden_states=True)` (no LM head)", _by_batch(body()),
                  baseline=True),
        Contender("all", "bare body forward, no KV cache", "transformers",
                  "same, `use_cache=False`", _by_batch(body(use_cache=False)), baseline=True),
    ]  # fmt: skip


def _valuescope_contenders(lm: Any) -> list[Contender]:
    points = list(range(lm.n_layers + 1))

    def read(layers: list[int]) -> Callable[[list[str], list[Any]], torch.Tensor]:
        def fn(texts: list[str], _batches: list[Any]) -> torch.Tensor:
            out = lm.residuals(texts, layers=layers, pool="last", batch_size=BATCH_SIZE, progress=False)
            assert isinstance(out, torch.Tensor)
            return out

        return fn

    return [
        Contender("all", "valuescope", "valuescope", "`lm.residuals(texts, layers=range(19))`", read(points)),
        Contender("middle", "valuescope", "valuescope", "`lm.residuals(texts, layers=[9])`", read([MIDDLE])),
    ]


def _transformer_lens_contenders(lm: Any) -> list[Contender]:
    from transformer_lens.model_bridge import TransformerBridge

    hf = copy.deepcopy(lm.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = TransformerBridge.boot_transformers(
            "google/gemma-3-270m", hf_model=hf, tokenizer=copy.deepcopy(lm.tokenizer), device="cpu"
        )
    n_blocks = len(bridge.blocks)
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n_blocks)]
    middle = [f"blocks.{MIDDLE - 1}.hook_resid_post"]

    def attention(impl: str) -> Callable[[], None]:
        return lambda: hf.set_attn_implementation(impl)

    def run(wanted: list[str], **kwargs: Any) -> Callable[[list[str], list[Any]], torch.Tensor]:
        def one(b: Any) -> torch.Tensor:
            _, cache = bridge.run_with_cache(
                b.input_ids, attention_mask=b.attention_mask, names_filter=wanted, **kwargs
            )
            return _pool_last([cache[name] for name in wanted], b.last)

        return _by_batch(one)

    tl = "TransformerLens"
    # Its fastest setting found: no logits returned, the LM head only on the last position (a
    # transformers kwarg it passes through), no KV cache, and sdpa instead of the eager attention
    # it forces at boot (fine here: no attention-pattern hooks are read).
    fast: dict[str, Any] = {"return_type": None, "logits_to_keep": 1, "use_cache": False}
    return [
        Contender("all", "TransformerLens default", tl,
                  "`run_with_cache(names_filter=19 resid hooks)`, eager attention (its default)",
                  run(names), attention("eager")),
        Contender("all", "TransformerLens fast", tl,
                  "same, `return_type=None, logits_to_keep=1, use_cache=False`, sdpa attention",
                  run(names, **fast), attention("sdpa")),
        Contender("middle", "TransformerLens fast", tl,
                  "`run_with_cache(names_filter=[resid_post 8], stop_at_layer=9, ...)`, as above",
                  run(middle, stop_at_layer=MIDDLE, **fast), attention("sdpa")),
    ]  # fmt: skip


def _nnsight_contenders(lm: Any) -> list[Contender]:
    from nnsight import LanguageModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn_model = LanguageModel(copy.deepcopy(lm.model), tokenizer=copy.deepcopy(lm.tokenizer))
    layers = nn_model.model.layers
    n_blocks = len(layers)

    def trace(points: list[int], stop: bool) -> Callable[[list[str], list[Any]], torch.Tensor]:
        def one(b: Any) -> torch.Tensor:
            saved: list[Any] = []
            inputs = {"input_ids": b.input_ids, "attention_mask": b.attention_mask}
            with nn_model.trace(inputs) as tracer:
                for p in points:
                    saved.append(layers[0].input.save() if p == 0 else layers[p - 1].output.save())
                if stop:
                    tracer.stop()
            return _pool_last([s[0] if isinstance(s, tuple) else s for s in saved], b.last)

        return _by_batch(one)

    every = list(range(n_blocks + 1))
    ns = "nnsight"
    return [
        Contender("all", "nnsight default", ns, "`trace()` saving layer 0's input and every layer's output",
                  trace(every, stop=False)),
        Contender("all", "nnsight early stop", ns, "same, `tracer.stop()` after the last layer",
                  trace(every, stop=True)),
        Contender("middle", "nnsight early stop", ns, "`trace()` saving layer 8's output, `tracer.stop()`",
                  trace([MIDDLE], stop=True)),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- parity


def _parity(out: torch.Tensor, ref: torch.Tensor, points: Sequence[int]) -> float:
    """Max over read points of max|out - ref| / max|ref| (both (n, k, d))."""
    worst = 0.0
    for j, _ in enumerate(points):
        scale = ref[:, j].abs().max().clamp(min=1e-12)
        worst = max(worst, float((out[:, j] - ref[:, j]).abs().max() / scale))
    return worst


# ----------------------------------------------------------------------------- run


def _log(msg: str) -> None:
    print(f"[bench_residuals] {msg}", file=sys.stderr, flush=True)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every contender; one row per contender and setting."""
    from valuescope import load_model
    from valuescope.readout.batching import encode, make_batches

    torch.manual_seed(0)
    lm = load_model(MODEL)
    lm.model.eval()
    n = N_QUICK if quick else N_SENTENCES
    repeats = REPEATS_QUICK if quick else REPEATS
    texts = make_sentences(lm.tokenizer, n)
    pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0

    def batched(items: list[str]) -> list[Any]:
        return list(make_batches([encode(lm.tokenizer, t) for t in items], BATCH_SIZE, pad_id))

    batches = batched(texts)
    lengths = [int(length) for b in batches for length in b.lengths]
    probe = texts[:: max(1, n // PARITY_SENTENCES)][:PARITY_SENTENCES]
    probe_batches = batched(probe)
    _log(f"{n} sentences, {min(lengths)}-{max(lengths)} tokens, {len(batches)} batches, {repeats} repeats")

    contenders = _valuescope_contenders(lm) + _hf_contenders(lm)
    failed: list[dict[str, Any]] = []
    for peer, build in (("TransformerLens", _transformer_lens_contenders), ("nnsight", _nnsight_contenders)):
        try:
            contenders += build(lm)
        except Exception as e:
            _log(f"{peer} could not be set up: {e!r}")
            failed.append({"group": "all", "contender": peer, "peer": peer, "error": f"setup failed: {e!r}"})

    for c in contenders:  # warm-up on the parity sentences; their output is checked against valuescope
        try:
            if c.prepare:
                c.prepare()
            c.output = c.fn(probe, probe_batches)
        except Exception as e:
            c.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            _log(f"warm-up {c.group}/{c.name} failed: {c.error}")
    live = [c for c in contenders if c.error is None]
    # Each timed unit is one padded batch (valuescope gets that batch's 32 texts); within a repeat every
    # contender runs every batch, in an order rotated from batch to batch, so that a burst of load from
    # another process lands on all contenders alike. A repeat's time is the sum over its batches.
    units = [(b_texts, batched(b_texts)) for b_texts in ([texts[i] for i in b.index] for b in batches)]
    assert all(len(u[1]) == 1 for u in units)
    for r in range(repeats):
        wall = {id(c): 0.0 for c in live}
        cpu = {id(c): 0.0 for c in live}
        for u, (u_texts, u_batches) in enumerate(units):
            shift = (r * len(units) + u) % len(live)
            for c in live[shift:] + live[:shift]:
                if c.prepare:
                    c.prepare()
                t0, c0 = time.perf_counter(), time.process_time()
                c.fn(u_texts, u_batches)
                wall[id(c)] += time.perf_counter() - t0
                cpu[id(c)] += time.process_time() - c0
        for c in live:
            c.times.append(wall[id(c)])
            c.cpu_times.append(cpu[id(c)])
        _log(
            f"repeat {r + 1}/{repeats}: " + ", ".join(f"{c.group}/{c.name}={c.times[-1]:.1f}s" for c in live)
        )
    return _rows(lm, contenders, n, lengths, len(probe)) + failed


def _rows(
    lm: Any, contenders: list[Contender], n: int, lengths: list[int], n_probe: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    n_points = lm.n_layers + 1
    bodies = [c for c in contenders if c.baseline]
    base = bodies[0]
    t_base = statistics.median(base.times) if base.times else float("nan")
    for group in ("all", "middle"):
        members = [c for c in contenders if c.group == group]
        if group == "middle":  # the body forward does the same work whichever hidden state is kept
            members[1:1] = bodies
        ref = next(c for c in members if c.peer == "valuescope")
        t_ref = statistics.median(ref.times) if ref.times else float("nan")
        points = list(range(n_points)) if group == "all" else [MIDDLE]
        for c in members:
            row: dict[str, Any] = {
                "group": group,
                "read_points": "0-18" if group == "all" else str(MIDDLE),
                "contender": c.name,
                "peer": c.peer,
                "setting": c.setting if c.group == group else "the same run as above, hidden_states[9]",
                "sentences": n,
                "tokens": f"{min(lengths)}-{max(lengths)}",
                "parity_sentences": n_probe,
            }
            if c.error is not None or not c.times:
                row["error"] = c.error or "no timings"
                rows.append(row)
                continue
            t = statistics.median(c.times)
            row.update(
                seconds=round(t, 2),
                spread=f"{min(c.times):.1f}-{max(c.times):.1f}",
                cpu_seconds=round(statistics.median(c.cpu_times), 1),
                repeats=len(c.times),
                sentences_per_s=round(n / t, 1),
                vs_body=round(t / t_base, 2),
                valuescope_speedup=round(t / t_ref, 2),
            )
            if c is not ref and c.output is not None and ref.output is not None:
                compared = points
                if c.peer == "transformers" and group == "all":
                    compared = points[:-1]  # its last hidden state is after the final norm
                    row["parity_note"] = "read points 0-17 (HF's hidden_states[18] is after the final norm)"
                out = c.output if c.group == group else c.output[:, [MIDDLE]]
                cols = [points.index(p) for p in compared]
                err = _parity(out[:, cols], ref.output[:, cols], compared)
                row["parity_max_rel_err"] = float(f"{err:.1e}")
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------- targets

PEERS = ("TransformerLens", "nnsight")


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets on median wall time, each with passed True/False (None if not measured).

    The bare body forward is the faster of its two rows (with and without the KV cache), and a peer's
    fastest setting its fastest row. Each detail also gives the verdict on median CPU time, which
    load from other processes disturbs less.
    """
    out: list[dict[str, Any]] = []

    def add(target: str, passed: bool | None, detail: str) -> None:
        out.append({"target": target, "passed": passed, "detail": detail})

    def timed(group: str, **match: str) -> list[dict[str, Any]]:
        return [
            r
            for r in rows
            if r.get("group") == group and "seconds" in r and all(r.get(k) == v for k, v in match.items())
        ]

    def compare(mine: dict[str, Any], theirs: dict[str, Any], factor: float) -> tuple[bool, str]:
        wall, cpu = theirs["seconds"] / mine["seconds"], theirs["cpu_seconds"] / mine["cpu_seconds"]
        verdict = "holds" if cpu >= factor else "fails"
        detail = (
            f"{theirs['contender']} {theirs['seconds']:.2f}s vs valuescope {mine['seconds']:.2f}s "
            f"= {wall:.2f}x (CPU time {cpu:.2f}x: {verdict})"
        )
        return wall >= factor, detail

    for group, label in (("all", "19 read points"), ("middle", f"read point {MIDDLE}")):
        vs = timed(group, peer="valuescope")
        bodies = timed(group, peer="transformers")
        bodies = [r for r in bodies if r["contender"].startswith("bare body")]
        if not vs or not bodies:
            add(f"{label}: vs the bare body forward", None, "not measured")
            continue
        body = min(bodies, key=lambda r: r["seconds"])
        if group == "all":
            add(f"{label} at least as fast as the bare body forward", *compare(vs[0], body, 1.0))
        else:
            add(f"{label} clearly (≥1.3x) faster than the bare body forward", *compare(vs[0], body, 1.3))
            continue
        for peer in PEERS:
            mine = timed(group, peer=peer)
            if not mine:
                add(f"faster than {peer} in its fastest setting", None, f"{peer} not measured")
                add(f"≥2.5x faster than {peer}'s default", None, f"{peer} not measured")
                continue
            fastest = min(mine, key=lambda r: r["seconds"])
            add(f"{label} faster than {peer} in its fastest setting", *compare(vs[0], fastest, 1.0))
            default = [r for r in mine if "default" in r["contender"]]
            if default:
                add(f"{label} ≥2.5x faster than {peer}'s default", *compare(vs[0], default[0], 2.5))
            else:
                add(f"{label} ≥2.5x faster than {peer}'s default", None, "default not measured")
    return out


# ----------------------------------------------------------------------------- table

COLUMNS = [
    ("read_points", "read points"),
    ("contender", "contender"),
    ("setting", "setting"),
    ("seconds", "median s"),
    ("spread", "min-max s"),
    ("cpu_seconds", "CPU s"),
    ("sentences_per_s", "sent/s"),
    ("vs_body", "× body"),
    ("valuescope_speedup", "valuescope speed-up"),
    ("parity_max_rel_err", "max rel err vs valuescope"),
]


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if "error" in r:
            cells = [str(r.get("read_points", "")), str(r.get("contender", "")), f"**failed**: {r['error']}"]
            cells += [""] * (len(COLUMNS) - len(cells))
        else:
            cells = [str(r.get(k, "")) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = sorted({r["parity_note"] for r in rows if "parity_note" in r})
    text = "\n".join(lines)
    if rows and "sentences" in rows[0]:
        text += (
            f"\n\n{rows[0]['sentences']} sentences of {rows[0].get('tokens', '?')} tokens; "
            "× body = time / bare body forward (default `use_cache`) on the same batches; "
            "valuescope speed-up = contender time / valuescope time; "
            "CPU s = process CPU time (both threads); "
            f"parity on {rows[0].get('parity_sentences', '?')} of the sentences."
        )
    for note in notes:
        text += f"\n\nParity of the transformers rows: {note}."
    return text


def targets_markdown(results: list[dict[str, Any]]) -> str:
    mark = {True: "✔", False: "✘", None: "?"}
    return "\n".join(f"- {mark[t['passed']]} {t['target']}: {t['detail']}" for t in results)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    rows = run(quick="--quick" in args)
    print(markdown(rows))
    print()
    print(targets_markdown(targets(rows)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
