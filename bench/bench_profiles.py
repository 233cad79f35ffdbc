"""Wall time of the study profiles: ``valuescope run all`` on the embedded models, per profile.

Each profile runs in a fresh subprocess into a fresh run folder (nothing reused), exactly as the
README's main command does; per-study and per-step times come from the run's ``manifest.json``.
The main job (``demo``) must finish within 40 minutes on this machine; ``quick`` within a few.
``VALUESCOPE_BENCH_PROFILES=quick,demo`` measures only those profiles (``full`` takes over an hour).
"""

from __future__ import annotations

import json
import os
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
BUDGET_S = {"quick": 5 * 60, "demo": 40 * 60}


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
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return {"error": f"exit {proc.returncode}: {tail[0][:300]}", "wall_s": wall}
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall_s": wall, "timings": manifest["timings"]}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per (profile, study, model), plus a total row per profile."""
    rows: list[dict[str, Any]] = []
    chosen = [p for p in os.environ.get("VALUESCOPE_BENCH_PROFILES", ",".join(PROFILES)).split(",") if p]
    unknown = sorted(set(chosen) - set(PROFILES))
    if unknown:
        raise ValueError(f"VALUESCOPE_BENCH_PROFILES names {unknown}; choose from {', '.join(PROFILES)}")
    for profile in ("quick",) if quick else chosen:
        print(f"[bench_profiles] {profile} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="vs-profile-") as tmp:
            info = _run_profile(profile, Path(tmp) / "run")
        if "error" in info:
            rows.append({"profile": profile, "study": "(all)", "model": "(all)", "error": info["error"]})
            continue
        per: dict[tuple[str, str], dict[str, float]] = {}
        for t in info["timings"]:
            steps = per.setdefault((t["study"], t["model"]), {})
            steps[t["step"]] = steps.get(t["step"], 0.0) + float(t["seconds"])
        for (study, model), steps in per.items():
            rows.append(
                {
                    "profile": profile,
                    "study": study,
                    "model": model,
                    "seconds": round(sum(steps.values()), 1),
                    "steps": ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()),
                }
            )
        rows.append(
            {"profile": profile, "study": "(all)", "model": "(all)", "seconds": round(info["wall_s"], 1),
             "steps": "whole command, model loading and report included"}
        )  # fmt: skip
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for profile, budget in BUDGET_S.items():
        total = next((r for r in rows if r["profile"] == profile and r["study"] == "(all)"), None)
        if total is None:
            continue
        seconds = total.get("seconds")
        out.append(
            {
                "target": f"`--profile {profile}` of both embedded models within {budget // 60} minutes",
                "passed": seconds is not None and seconds <= budget,
                "detail": f"{seconds} s" if seconds is not None else total.get("error", "failed"),
            }
        )
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| profile | study | model | seconds | steps |", "|---|---|---|---|---|"]
    for r in rows:
        detail = r.get("steps", "") if "error" not in r else f"**failed**: {r['error']}"
        lines.append(f"| {r['profile']} | {r['study']} | {r['model']} | {r.get('seconds', '')} | {detail} |")
    return "\n".join(lines) + (
        "\n\nSeconds per study and model are the sum of its units' times (model loading excluded); "
        "the (all) row is the whole command's wall time."
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    rows = run(quick="--quick" in args)
    print(markdown(rows))
    for t in targets(rows):
        print(("✔ " if t["passed"] else "✘ ") + f"{t['target']}: {t['detail']}")


if __name__ == "__main__":
    main()
