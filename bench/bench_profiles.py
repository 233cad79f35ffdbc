"""Wall time of the study profiles: ``valuescope run all`` on the embedded models, per profile.

Each profile runs in a fresh subprocess into a fresh run folder (nothing reused), exactly as the
README's main command does. Per-unit times (one study step on one model) come from the run's
``manifest.json``; the command's CPU time (both threads) from the kernel; the load average is read
at the start and the end of each profile, since other processes on a shared machine slow it down.
The main job (``demo``) must finish within 30 minutes on this machine; ``quick`` within 5.
``VALUESCOPE_BENCH_PROFILES=quick,demo`` measures only those profiles (``full`` takes over an hour).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCHMARK = "profiles"
TITLE = "Study profiles: `valuescope run all --model gemma-3-270m --model smollm2-135m-instruct`"
MODELS = ("gemma-3-270m", "smollm2-135m-instruct")
PROFILES = ("quick", "demo", "full")
BUDGET_S = {"quick": 5 * 60, "demo": 30 * 60}


def _run_profile(profile: str, out: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "valuescope.cli",
        "run",
        "all",
        "--profile",
        profile,
        "--out",
        str(out),
        "--quiet",
    ]
    for model in MODELS:
        cmd += ["--model", model]
    load = _load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    info: dict[str, Any] = {"wall_s": wall, "cpu_s": cpu, "load": f"{load} → {_load()}"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        info["error"] = f"exit {proc.returncode}: {tail[0][:300]}"
        if not (out / "manifest.json").exists():
            return info
    manifest = json.loads((out / "manifest.json").read_text())
    return {**info, "timings": manifest["timings"]}


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per (profile, study, model, unit), plus a total row per profile (study ``(all)``)."""
    rows: list[dict[str, Any]] = []
    chosen = [p for p in os.environ.get("VALUESCOPE_BENCH_PROFILES", ",".join(PROFILES)).split(",") if p]
    unknown = sorted(set(chosen) - set(PROFILES))
    if unknown:
        raise ValueError(f"VALUESCOPE_BENCH_PROFILES names {unknown}; choose from {', '.join(PROFILES)}")
    for profile in ("quick",) if quick else chosen:
        print(f"[bench_profiles] {profile} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="vs-profile-") as tmp:
            info = _run_profile(profile, Path(tmp) / "run")
        units = 0.0
        for t in info.get("timings", []):
            seconds = float(t["seconds"])
            units += seconds
            rows.append(
                {
                    "profile": profile,
                    "study": t["study"],
                    "model": t["model"],
                    "step": t["step"],
                    "seconds": round(seconds, 1),
                }
            )
        total: dict[str, Any] = {
            "profile": profile,
            "study": "(all)",
            "model": "(all)",
            "step": "(all)",
            "seconds": round(info["wall_s"], 1),
            "cpu_s": round(info["cpu_s"], 1),
            "units_s": round(units, 1),
            "load": info["load"],
        }
        if "error" in info:
            total["error"] = info["error"]
        rows.append(total)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for profile, budget in BUDGET_S.items():
        total = next((r for r in rows if r["profile"] == profile and r["study"] == "(all)"), None)
        if total is None:
            continue
        seconds = None if "error" in total else total.get("seconds")
        out.append(
            {
                "target": f"`--profile {profile}` of both embedded models within {budget // 60} minutes",
                "passed": seconds is not None and seconds <= budget,
                "detail": f"{seconds} s" if seconds is not None else total.get("error", "failed"),
            }
        )
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """Per-unit seconds, one column per profile measured, then the totals."""
    profiles = list(dict.fromkeys(r["profile"] for r in rows))
    units = list(dict.fromkeys((r["study"], r["model"], r["step"]) for r in rows if r["study"] != "(all)"))
    seconds = {(r["profile"], r["study"], r["model"], r["step"]): r.get("seconds") for r in rows}
    head = "| study | model | unit | " + " | ".join(f"{p} s" for p in profiles) + " |"
    lines = [head, "|---|---|---|" + "---|" * len(profiles)]
    for study, model, step in units:
        cells = [seconds.get((p, study, model, step)) for p in profiles]
        shown = " | ".join("" if c is None else str(c) for c in cells)
        lines.append(f"| {study} | {model} | {step} | {shown} |")
    totals = {r["profile"]: r for r in rows if r["study"] == "(all)"}

    def total_row(label: str, key: str) -> str:
        cells = [str(totals[p].get(key, "")) if p in totals else "" for p in profiles]
        return f"| **{label}** | | | " + " | ".join(cells) + " |"

    lines.append(total_row("sum of units", "units_s"))
    lines.append(total_row("whole command, wall", "seconds"))
    lines.append(total_row("whole command, CPU", "cpu_s"))
    lines.append(total_row("load average, start → end", "load"))
    failed = [f"- `{p}` failed: {t['error']}" for p, t in totals.items() if "error" in t]
    return "\n".join(lines + (["", *failed] if failed else [])) + (
        "\n\nA unit is one study step on one model (model loading excluded); `_all` is the cross-model "
        "compare. The whole command's wall time includes loading the models and writing the report; its CPU "
        "time counts both threads, so on an idle 2-core machine it is up to twice the wall time, and a wall "
        "time well above the CPU time means other processes took the cores."
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    rows = run(quick="--quick" in args)
    print(markdown(rows))
    for t in targets(rows):
        print(("✔ " if t["passed"] else "✘ ") + f"{t['target']}: {t['detail']}")


if __name__ == "__main__":
    main()
