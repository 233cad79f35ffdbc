"""Peak memory while extracting many sentences: ``lm.residuals(texts, layers=[6], pool="mean", store=dir)``.

Each size runs in a fresh subprocess, so one size's peak cannot hide another's. The child loads the
model, records its resident memory, runs a small warm-up readout (paging in the weights it reads),
resets the kernel's peak-RSS counter (``/proc/self/clear_refs``) so the model load's own transient
peak does not mask the extraction's, extracts, and reports
``ru_maxrss`` (peak of the whole process, load included) and ``VmHWM`` (peak since the reset).
Growth = extraction peak - resident memory after the warm-up. When the store (``store=``) is missing or
fails, the plain in-memory readout is measured instead and the row says so.

Run ``python -m bench.bench_memory [--quick]`` for a markdown table.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCHMARK = "memory"
TITLE = 'Peak memory, `lm.residuals(texts, layers=[6], pool="mean", store=dir)`'
MODEL = "gemma-3-270m"
SIZES = (2_000, 5_000, 20_000)
SIZES_QUICK = (200, 500, 2_000)
READ_POINT = 6
WARMUP = 64
BYTES_PER_ROW = 640 * 4  # one pooled float32 vector of d_model 640


def sentences(n: int, seed: int = 1) -> list[str]:
    """``n`` distinct templated sentences of roughly 10-30 tokens."""
    from bench.bench_residuals import _OBJECTS, _PHRASES, _SUBJECTS, _VERBS

    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(100 * n):
        if len(out) == n:
            break
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        words += rng.sample(_PHRASES, rng.randint(1, 3))
        text = " ".join(words) + "."
        if text not in seen:
            seen.add(text)
            out.append(text)
    if len(out) < n:
        raise RuntimeError(f"could only generate {len(out)} distinct sentences, not {n}")
    return out


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _child(n: int, mode: str) -> dict[str, Any]:
    """Runs in the subprocess: load, reset the peak, extract ``n`` sentences, report."""
    import torch

    from valuescope import load_model

    texts = sentences(n)
    lm = load_model(MODEL)
    info: dict[str, Any] = {"sentences": n, "threads": torch.get_num_threads()}
    info["rss_after_load_mb"] = _status_kb("VmRSS") / 1024
    info["load_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # One small plain readout pages in the weights it touches, so growth measures the extraction only.
    lm.residuals(texts[:WARMUP], layers=[READ_POINT], pool="mean", progress=False)
    info["rss_after_warmup_mb"] = _status_kb("VmRSS") / 1024
    info["peak_reset"] = _reset_peak()
    with tempfile.TemporaryDirectory(prefix="valuescope-bench-store-") as tmp:
        t0 = time.perf_counter()
        out = None
        if mode == "store":
            try:
                out = lm.residuals(texts, layers=[READ_POINT], pool="mean", progress=False, store=tmp)
                info["path"] = "store"
            except Exception as e:
                info["store_error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        if out is None:
            out = lm.residuals(texts, layers=[READ_POINT], pool="mean", progress=False)
            info["path"] = "plain readout"
        info["seconds"] = time.perf_counter() - t0
        assert isinstance(out, torch.Tensor) and out.shape == (n, 1, lm.d_model), out.shape
        info["store_mb"] = sum(f.stat().st_size for f in Path(tmp).rglob("*")) / 2**20
    info["extract_peak_mb"] = _status_kb("VmHWM") / 1024
    info["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info["result_mb"] = out.numel() * out.element_size() / 2**20
    return info


def _spawn(n: int, mode: str) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    cmd = [sys.executable, "-m", "bench.bench_memory", "--child", str(n), mode]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"sentences": n, "error": f"child exited {proc.returncode}: {tail[0][:300]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per size, each measured in its own subprocess."""
    rows: list[dict[str, Any]] = []
    for n in SIZES_QUICK if quick else SIZES:
        print(f"[bench_memory] {n} sentences ...", file=sys.stderr, flush=True)
        info = _spawn(n, "store")
        row: dict[str, Any] = {"sentences": n}
        if "error" in info:
            row["error"] = info["error"]
            rows.append(row)
            continue
        growth = info["extract_peak_mb"] - info["rss_after_warmup_mb"]
        row.update(
            path=info["path"],
            seconds=round(info["seconds"], 1),
            rss_after_load_mb=round(info["rss_after_load_mb"]),
            rss_after_warmup_mb=round(info["rss_after_warmup_mb"]),
            load_peak_mb=round(info["load_peak_mb"]),
            ru_maxrss_mb=round(info["ru_maxrss_mb"]),
            extract_peak_mb=round(info["extract_peak_mb"]) if info["peak_reset"] else None,
            growth_mb=round(growth) if info["peak_reset"] else None,
            result_mb=round(info["result_mb"], 1),
            store_mb=round(info["store_mb"], 1),
        )
        if "store_error" in info:
            row["note"] = f"store failed, plain readout measured: {info['store_error']}"
        rows.append(row)
    ok = [r for r in rows if r.get("growth_mb") is not None]
    if len(ok) >= 2:
        a, b = ok[0], ok[-1]
        slope = (b["growth_mb"] - a["growth_mb"]) / ((b["sentences"] - a["sentences"]) / 1000)
        for r in ok:
            r["growth_per_1k_mb"] = round(slope, 2)
    return rows


COLUMNS = [
    ("sentences", "sentences"),
    ("path", "path"),
    ("seconds", "s"),
    ("rss_after_load_mb", "RSS after load MB"),
    ("load_peak_mb", "load peak MB"),
    ("rss_after_warmup_mb", "RSS after warm-up MB"),
    ("extract_peak_mb", "extraction peak MB"),
    ("ru_maxrss_mb", "ru_maxrss MB"),
    ("growth_mb", "growth MB"),
    ("result_mb", "result tensor MB"),
    ("store_mb", "store on disk MB"),
]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if "error" in r:
            cells = [str(r["sentences"]), f"**failed**: {r['error']}"] + [""] * (len(COLUMNS) - 2)
        else:
            cells = ["" if r.get(k) is None else str(r.get(k)) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    text = "\n".join(lines)
    slope = next((r["growth_per_1k_mb"] for r in rows if "growth_per_1k_mb" in r), None)
    text += (
        f"\n\nGrowth = peak RSS during extraction (VmHWM, reset after the load and a {WARMUP}-sentence "
        "warm-up readout that pages in the weights) minus RSS after that warm-up; ru_maxrss is the whole "
        "process's peak, the model load included."
    )
    if slope is not None:
        text += f" Growth from the smallest to the largest size: {slope} MB per 1,000 sentences."
    for r in rows:
        if "note" in r:
            text += f"\n\n{r['sentences']} sentences: {r['note']}"
    return text


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        print(json.dumps(_child(int(args[1]), args[2])), flush=True)
        return
    print(markdown(run(quick="--quick" in args)))


if __name__ == "__main__":
    main()
