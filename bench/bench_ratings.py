"""Likert ratings: ``lm.rate`` against lm-evaluation-harness-style scoring, and a shared-prefix KV cache.

Gemma-3-270M in float32 on the CPU rates 256 statements on a 6-point agreement scale (instruction +
statement + ``Answer:``; options ``1``-``6``). All contenders run in this one process on the same
items, round-robin (each repeat runs every contender once); the median time is reported with the
min-max of the repeats. Probabilities are compared with ``lm.rate``'s, option by option.

- ``lm.rate``: one forward per item through the decoder body, LM head on the one decision position;
  by default the leading tokens a batch shares run once through a KV cache (``prefix_cache``).
- ``lm.rate, prefix_cache=False``: the same, whole sequences (what ``lm.rate`` did before).
- harness: lm-evaluation-harness ``loglikelihood`` with ``logits_cache=False``: each (item, option)
  is its own request ``context + " " + option``, sorted longest first, right-padded batches of 32,
  ``model(input_ids).logits`` over every position, ``log_softmax`` over the whole batch, sum of the
  continuation tokens' log-probabilities (Gemma: ``▁`` + digit), renormalised over the options.
- harness, logits_to_keep: the same 6 sequences per item, but the LM head only at the positions that
  are scored (``logits_to_keep`` = the union of those positions in the batch).
- harness, grouped: lm-eval's default ``logits_cache=True`` groups requests whose context +
  continuation[:-1] match, so here (every option is ``▁`` + one digit) it runs one full-LM-head
  forward per item.
- KV prefix (hand-written, for reference): the prompts' common leading tokens run once
  (``use_cache=True``); each batch gets a copy of that ``DynamicCache`` expanded to the batch and
  runs only the right-padded suffixes (position ids and attention mask continue the prefix).
  Measured for the short instruction (~30 tokens) and a long one (~300 tokens, the instruction plus
  definitions); the harness is not run on the long one.

Run ``python -m bench.bench_ratings [--quick]`` for a markdown table.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

BENCHMARK = "ratings"
TITLE = "Likert ratings (6 options): `lm.rate` against harness-style scoring and a shared-prefix KV cache"
MODEL = "gemma-3-270m"
OPTIONS = ["1", "2", "3", "4", "5", "6"]
BATCH_SIZE = 32
N_ITEMS = 256
N_QUICK = 32
N_LONG = 64
"""Items for the long-prefix comparison in the full run (each takes ~8x the compute of a short one)."""
REPEATS = 3
REPEATS_QUICK = 1
HARNESS_REPEATS = 1
"""The full-LM-head harness run takes ~15x ``lm.rate``; it runs once in the full run."""
TARGET_RATIO = 5.0
TARGET_DIFF = 1e-5
TARGETS = [
    f"lm.rate at least {TARGET_RATIO:g}x faster than the harness way (6 sequences, full LM head)",
    f"max |p(lm.rate) - p(harness)| at most {TARGET_DIFF:g}",
]

RATE = "lm.rate"
RATE_WHOLE = "lm.rate, prefix_cache=False"
HARNESS = "harness (6 seqs, full LM head)"
HARNESS_KEEP = "harness (6 seqs, logits_to_keep)"
HARNESS_GROUPED = "harness grouped (1 seq, full LM head)"
KV = "KV prefix + lm.rate readout"

INSTRUCTION = (
    "Rate how much you agree with the statement on a scale from 1 (strongly disagree) to 6 (strongly agree)."
)
LONG_INSTRUCTION = (
    "You will read a statement about values, society or everyday life. Rate how much you agree with it "
    "on a scale from 1 (strongly disagree) to 6 (strongly agree). The points of the scale mean the "
    "following. 1, strongly disagree: the statement is clearly false or objectionable to you, and you "
    "would argue against it. 2, disagree: you mostly reject the statement, although you can see a small "
    "part of truth in it. 3, slightly disagree: you lean against the statement but are not sure, and "
    "your view could change with more information. 4, slightly agree: you lean towards the statement "
    "but have some doubts about it. 5, agree: you mostly accept the statement, with only minor "
    "reservations. 6, strongly agree: the statement matches your view exactly and you would defend it. "
    "Some statements concern values. Benevolence means caring for the welfare of the people you are "
    "close to. Universalism means understanding, tolerance and protection of the welfare of all people "
    "and of nature. Self-direction means independent thought and action, choosing your own goals. "
    "Security means safety, harmony and stability of society, of relationships and of yourself. "
    "Tradition means respect for the customs and ideas of your culture or religion. Conformity means "
    "restraint of actions that could upset or harm others or break social norms. Achievement means "
    "personal success through showing competence, and power means social status and control over people "
    "and resources. Other statements are plain observations about the world; rate them in the same way. "
    "There are no right or wrong answers. Answer with a single number."
)

_SUBJECTS = [
    "People",
    "Governments",
    "Parents",
    "Companies",
    "Teachers",
    "Young people",
    "Scientists",
    "Leaders",
    "Neighbours",
    "Everyone",
]
_VALUES = [
    "should always tell the truth, even when it hurts",
    "ought to put their family before their career",
    "should be free to choose their own goals",
    "must respect the traditions they grew up with",
    "should work hard to be more successful than others",
    "should protect nature even if it costs jobs",
    "ought to obey the rules even when nobody is watching",
    "should help strangers in need",
    "deserve more power when they are more competent",
    "should avoid taking risks with their safety",
    "ought to seek out new and exciting experiences",
    "should enjoy life's pleasures whenever they can",
    "must treat every person as an equal",
    "should keep their promises no matter what",
]
_NEUTRAL = [
    "Water boils at a lower temperature high in the mountains.",
    "Most trains in this city arrive on time.",
    "A week has seven days.",
    "Bread tastes better when it is fresh.",
    "Cats sleep for most of the day.",
    "The library opens at nine in the morning.",
    "Rain is common here in the autumn.",
    "Bicycles are a practical way to get around town.",
    "Tea is more popular than coffee in this country.",
    "The river freezes over in a cold winter.",
    "Most shops are closed on public holidays.",
    "Old maps are often inaccurate.",
    "The post office is busy on Monday mornings.",
    "Apples grow well in a cool climate.",
    "Most people own a mobile phone.",
    "Snow is rare near the coast.",
    "The museum is free on Sundays.",
    "Football is played with a round ball.",
    "Buses are slower than trains over long distances.",
    "Glass breaks easily when it falls.",
    "Summer evenings are long in the north.",
    "Paper is made from wood.",
]
_HEDGES = ["", "In general, ", "Most of the time, ", "Honestly, ", "I think that "]


def _log(msg: str) -> None:
    print(f"[bench_ratings] {msg}", file=sys.stderr, flush=True)


def statements(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct statements: about 3/4 value-laden (subject + value phrase), 1/4 neutral facts."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(100 * n):
        if len(out) == n:
            break
        hedge = rng.choice(_HEDGES)
        if len(out) % 4 == 3:
            fact = rng.choice(_NEUTRAL)
            text = hedge + (fact[0].lower() + fact[1:] if hedge else fact)
        else:
            subject = rng.choice(_SUBJECTS)
            text = hedge + (subject.lower() if hedge else subject) + " " + rng.choice(_VALUES) + "."
        if text not in seen:
            seen.add(text)
            out.append(text)
    if len(out) < n:
        raise ValueError(f"could only make {len(out)} distinct statements")
    return out


def prompts(n: int, instruction: str = INSTRUCTION) -> list[str]:
    return [f"{instruction}\nStatement: {s}\nAnswer:" for s in statements(n)]


# ----------------------------------------------------------------------------- contenders


def _rate(lm: Any, texts: list[str], prefix_cache: bool | None = None) -> np.ndarray:
    frame = lm.rate(
        texts, OPTIONS, chat=False, batch_size=BATCH_SIZE, progress=False, prefix_cache=prefix_cache
    )
    return frame[[f"p_{o}" for o in OPTIONS]].to_numpy(dtype=np.float64)


def _renormalise(logp: np.ndarray) -> np.ndarray:
    """(n, k) summed log-probabilities -> probabilities over the k options (float64)."""
    z = logp - logp.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _harness(lm: Any, texts: list[str], mode: str) -> np.ndarray:
    """lm-eval ``loglikelihood`` for every (item, option); ``mode`` is "full", "keep" or "grouped"."""
    tok = lm.tokenizer
    model = lm.model
    k = len(OPTIONS)
    # _encode_pair: whole = context + continuation, context_enc = encode(context) (Gemma: with BOS)
    contexts = tok(texts)["input_ids"]
    wholes = tok([t + " " + o for t in texts for o in OPTIONS])["input_ids"]
    requests = []  # (item, option, context_enc, continuation_enc)
    for r, whole in enumerate(wholes):
        item, opt = divmod(r, k)
        ctx = contexts[item]
        requests.append((item, opt, ctx, whole[len(ctx) :]))
    # sorted longest first (ties by tokens); grouped: one request per context + continuation[:-1]
    requests.sort(key=lambda q: (-(len(q[2]) + len(q[3])), tuple(q[2] + q[3])))
    if mode == "grouped":
        groups: dict[tuple[int, ...], list[Any]] = {}
        for q in requests:
            groups.setdefault(tuple(q[2] + q[3][:-1]), []).append(q)
        chunks_of = list(groups.values())
    else:
        chunks_of = [[q] for q in requests]
    logp = np.zeros((len(texts), k), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(chunks_of), BATCH_SIZE):
            chunk = chunks_of[start : start + BATCH_SIZE]
            inps = [(g[0][2] + g[0][3])[:-1] for g in chunk]  # the last token is predicted, not fed
            width = max(len(x) for x in inps)
            ids = torch.zeros((len(inps), width), dtype=torch.long)  # right padding, no attention mask
            for row, x in enumerate(inps):
                ids[row, : len(x)] = torch.tensor(x)
            keep: Any = 0  # 0 = every position
            if mode == "keep":
                needed = sorted(
                    {len(x) - len(q[3]) + j for x, g in zip(inps, chunk, strict=True) for q in g
                     for j in range(len(q[3]))}
                )  # fmt: skip
                keep = torch.tensor(needed, dtype=torch.long)
            logits = model(input_ids=ids, logits_to_keep=keep).logits
            multi = torch.log_softmax(logits.float(), dim=-1)
            where = {p: i for i, p in enumerate(keep.tolist())} if mode == "keep" else None
            for row, (x, g) in enumerate(zip(inps, chunk, strict=True)):
                for item, opt, _ctx, cont in g:
                    first = len(x) - len(cont)
                    pos = [first + j for j in range(len(cont))]
                    if where is not None:
                        pos = [where[p] for p in pos]
                    scored = multi[row, pos]  # (contlen, vocab)
                    target = torch.tensor(cont)
                    _greedy = bool((scored.argmax(dim=-1) == target).all())  # lm-eval computes it too
                    logp[item, opt] = float(scored.gather(1, target[:, None]).sum())
            del logits, multi
    return _renormalise(logp)


def _option_tokens(lm: Any, texts: list[str]) -> tuple[list[int], list[int]]:
    """(shared leading tokens of " <option>", one distinguishing token per option) after the prompts."""
    tok = lm.tokenizer
    ctx = tok(texts[0])["input_ids"]
    conts = [tok(texts[0] + " " + o)["input_ids"][len(ctx) :] for o in OPTIONS]
    shared = conts[0][:-1]
    if any(len(c) != len(shared) + 1 or c[:-1] != shared for c in conts):
        raise RuntimeError(f"options do not tokenize as shared tokens + one digit: {conts}")
    return shared, [c[-1] for c in conts]


def _kv_prefix(lm: Any, texts: list[str]) -> tuple[np.ndarray, int]:
    """Ratings with the prompts' common leading tokens computed once; (probabilities, prefix tokens)."""
    from transformers import DynamicCache

    tok = lm.tokenizer
    model = lm.model
    body = model.model
    config = model.config
    cap = getattr(config.get_text_config(), "final_logit_softcapping", None)
    shared, digits = _option_tokens(lm, texts)
    seqs = [x + shared for x in tok(texts)["input_ids"]]
    n_prefix = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for s in seqs[1:]:
        while s[:n_prefix] != first[:n_prefix]:
            n_prefix -= 1
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    probs = np.zeros((len(texts), len(OPTIONS)), dtype=np.float64)
    digit_ids = torch.tensor(digits)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([first[:n_prefix]]), use_cache=True, logits_to_keep=1)
        kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        for start in range(0, len(order), BATCH_SIZE):
            chunk = order[start : start + BATCH_SIZE]
            suffixes = [seqs[i][n_prefix:] for i in chunk]
            b, width = len(chunk), max(len(s) for s in suffixes)
            ids = torch.full((b, width), pad_id, dtype=torch.long)
            mask = torch.zeros((b, n_prefix + width), dtype=torch.long)
            mask[:, :n_prefix] = 1
            for row, s in enumerate(suffixes):
                ids[row, : len(s)] = torch.tensor(s)
                mask[row, n_prefix : n_prefix + len(s)] = 1
            positions = (n_prefix + torch.arange(width)).expand(b, width)
            # a fresh cache per batch: forward appends the suffixes to it (update() copies via cat)
            cache = DynamicCache([(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in kv], config)
            hidden = body(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
            ).last_hidden_state
            last = torch.tensor([len(s) - 1 for s in suffixes])
            logits = model.lm_head(hidden[torch.arange(b), last]).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            lp = torch.log_softmax(logits, dim=-1)[:, digit_ids].double()
            probs[chunk] = torch.softmax(lp, dim=-1).numpy()
    return probs, n_prefix


# ----------------------------------------------------------------------------- running


@dataclass
class Contender:
    name: str
    prompt_set: str
    fn: Callable[[list[str]], np.ndarray]
    repeats: int
    times: list[float] = field(default_factory=list)
    probs: np.ndarray | None = None
    error: str | None = None


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every contender round-robin; one row per (prompt set, contender)."""
    from valuescope import load_model

    lm = load_model(MODEL)
    n = N_QUICK if quick else N_ITEMS
    n_long = N_QUICK if quick else N_LONG
    repeats = REPEATS_QUICK if quick else REPEATS
    harness_repeats = REPEATS_QUICK if quick else HARNESS_REPEATS
    texts = {"short": prompts(n), "long": prompts(n_long, LONG_INSTRUCTION)}
    prefix_len: dict[str, int] = {}

    def kv(name: str) -> Callable[[list[str]], np.ndarray]:
        def fn(items: list[str]) -> np.ndarray:
            probs, prefix_len[name] = _kv_prefix(lm, items)
            return probs

        return fn

    contenders = [
        Contender(RATE, "short", lambda t: _rate(lm, t), repeats),
        Contender(RATE_WHOLE, "short", lambda t: _rate(lm, t, False), repeats),
        Contender(KV, "short", kv("short"), repeats),
        Contender(HARNESS_GROUPED, "short", lambda t: _harness(lm, t, "grouped"), repeats),
        Contender(HARNESS_KEEP, "short", lambda t: _harness(lm, t, "keep"), harness_repeats),
        Contender(HARNESS, "short", lambda t: _harness(lm, t, "full"), harness_repeats),
        Contender(RATE, "long", lambda t: _rate(lm, t), repeats),
        Contender(RATE_WHOLE, "long", lambda t: _rate(lm, t, False), repeats),
        Contender(KV, "long", kv("long"), repeats),
    ]
    _log(f"{MODEL} ({lm.model.dtype}, {torch.get_num_threads()} threads), {n} items, {repeats} repeats")
    for c in contenders:  # warm-up on a few items; also catches failures
        try:
            c.fn(texts[c.prompt_set][:4])
        except Exception as e:
            c.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            _log(f"warm-up {c.name} ({c.prompt_set}) failed: {c.error}")
    for r in range(max(c.repeats for c in contenders)):
        for c in contenders:
            if c.error is not None or r >= c.repeats:
                continue
            items = texts[c.prompt_set]
            try:
                t0 = time.perf_counter()
                c.probs = c.fn(items)
                c.times.append(time.perf_counter() - t0)
            except Exception as e:
                c.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                _log(f"{c.name} ({c.prompt_set}) failed: {c.error}")
                continue
            _log(f"repeat {r + 1} {c.name} ({c.prompt_set}): {c.times[-1]:.1f} s")
    tok = lm.tokenizer
    tokens = {k: float(np.mean([len(x) for x in tok(v)["input_ids"]])) for k, v in texts.items()}
    return _rows(contenders, prefix_len, tokens)


def _rows(
    contenders: list[Contender], prefix_len: dict[str, int], tokens: dict[str, float]
) -> list[dict[str, Any]]:
    ref = {c.prompt_set: c for c in contenders if c.name == RATE}
    rows: list[dict[str, Any]] = []
    for c in contenders:
        row: dict[str, Any] = {
            "prompts": c.prompt_set,
            "prompt_tokens": round(tokens[c.prompt_set], 1),
            "prefix_tokens": prefix_len.get(c.prompt_set),
            "contender": c.name,
        }
        if c.error is not None or not c.times or c.probs is None:
            row["error"] = c.error or "no timings"
            rows.append(row)
            continue
        n = len(c.probs)
        median = statistics.median(c.times)
        row.update(
            items=n,
            seconds=round(median, 2),
            spread=f"{min(c.times):.1f}-{max(c.times):.1f}",
            repeats=len(c.times),
            items_per_s=round(n / median, 2),
        )
        base = ref.get(c.prompt_set)
        if base is not None and base.times and base.probs is not None and c is not base:
            row["time_vs_rate"] = round(median / statistics.median(base.times), 3)
            row["max_abs_diff_vs_rate"] = float(np.abs(c.probs - base.probs).max())
        rows.append(row)
    return rows


def _find(rows: list[dict[str, Any]], prompt_set: str, name: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["prompts"] == prompt_set and r["contender"] == name), None)


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, with passed True/False (None if they could not be measured)."""
    h = _find(rows, "short", HARNESS)
    out: list[dict[str, Any]] = []
    ratio = h.get("time_vs_rate") if h else None
    if ratio is None:
        out.append({"target": TARGETS[0], "passed": None, "detail": "not measured"})
    else:
        out.append({"target": TARGETS[0], "passed": ratio >= TARGET_RATIO, "detail": f"{ratio:.1f}x"})
    diff = h.get("max_abs_diff_vs_rate") if h else None
    if diff is None:
        out.append({"target": TARGETS[1], "passed": None, "detail": "not measured"})
    else:
        out.append({"target": TARGETS[1], "passed": diff <= TARGET_DIFF, "detail": f"{diff:.1e}"})
    return out


def check(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(target, met) for the targets that could be measured."""
    return [(t["target"], bool(t["passed"])) for t in targets(rows) if t["passed"] is not None]


COLUMNS = [
    ("prompts", "prompts"),
    ("prompt_tokens", "tokens/prompt"),
    ("prefix_tokens", "shared prefix"),
    ("contender", "contender"),
    ("items", "items"),
    ("seconds", "seconds (median)"),
    ("spread", "min-max"),
    ("repeats", "repeats"),
    ("items_per_s", "items/s"),
    ("time_vs_rate", "time ÷ lm.rate"),
    ("max_abs_diff_vs_rate", "max \\|Δp\\| vs lm.rate"),
]


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "max_abs_diff_vs_rate":
        return f"{value:.1e}"
    return str(value).replace("|", "\\|")


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [_cell(k, r.get(k)) for k, _ in COLUMNS]
        if "error" in r:
            cells[4] = f"**failed**: {_cell('error', r['error'])}"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\n{MODEL} float32 on CPU ({torch.get_num_threads()} threads), batch {BATCH_SIZE}, options "
        f"{'-'.join((OPTIONS[0], OPTIONS[-1]))}. 'shared prefix' = leading tokens common to every prompt "
        "(what the KV-prefix contender computes once). time ÷ lm.rate > 1 is slower than lm.rate."
    )
    return "\n".join(lines)


def targets_markdown(results: list[dict[str, Any]]) -> str:
    mark = {True: "✔", False: "✘", None: "?"}
    return "\n".join(f"- {mark[t['passed']]} {t['target']}: {t['detail']}" for t in results)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv[1:])
    print(f"## {TITLE}\n")
    print(markdown(result))
    print()
    print(targets_markdown(targets(result)))
