"""Run every ``bench/bench_*.py`` that has ``run(quick)`` and write ``BENCHMARKS.md`` at the repo root.

``python -m bench.run_all [--quick] [--output PATH] [--only NAME ...]``

With ``--only``, the named modules run and every other module's section (and its targets) is kept
from the existing output file, so one benchmark can be redone without rerunning the rest.

Each module runs in its own subprocess (a crash or a large peak in one cannot disturb the next); its
rows come back as JSON. A module may also define ``TITLE``, ``markdown(rows)`` (its table),
``targets(rows)`` (a list of ``{"target", "passed", "detail"}``) and ``__doc__`` (what it measures).
A module that fails keeps its section in BENCHMARKS.md, with the error.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
ORDER = (
    "bench_residuals",
    "bench_memory",
    "bench_generation",
    "bench_ratings",
    "bench_steering",
    "bench_profiles",
)
MARKER = "@@BENCH_ROWS@@ "
PACKAGES = ("torch", "transformers", "transformer-lens", "nnsight", "valuescope", "numpy")


def discover() -> list[str]:
    """Module names of ``bench/bench_*.py``, the known ones first."""
    names = sorted(p.stem for p in BENCH.glob("bench_*.py"))
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def _has_run(name: str) -> tuple[Any | None, str | None]:
    try:
        module = importlib.import_module(f"bench.{name}")
    except Exception as e:
        return None, f"import failed: {type(e).__name__}: {e}"
    if not callable(getattr(module, "run", None)):
        return module, None
    return module, ""


# ----------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem = _mem_total_gib()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable; torch threads {torch.get_num_threads()}",
        "memory": f"{mem:.1f} GiB" if mem else "unknown",
        "load": "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": _git_commit(),
        "versions": {p: _version(p) for p in PACKAGES},
    }


# ----------------------------------------------------------------------------- running


def run_one_in_child(name: str, quick: bool) -> tuple[list[dict[str, Any]] | None, str | None, float]:
    """Run ``bench.<name>.run(quick)`` in a subprocess; (rows, error, seconds)."""
    cmd = [sys.executable, "-m", "bench.run_all", "--child", name] + (["--quick"] if quick else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    rows: list[dict[str, Any]] | None = None
    error: str | None = None
    assert proc.stdout is not None
    for line in proc.stdout:  # stderr (progress) goes straight through to ours
        if line.startswith(MARKER):
            payload = json.loads(line[len(MARKER) :])
            rows, error = payload.get("rows"), payload.get("error")
    code = proc.wait()
    seconds = time.perf_counter() - t0
    if rows is None and error is None:
        error = f"the benchmark process exited with code {code} before reporting"
    return rows, error, seconds


def _child(name: str, quick: bool) -> None:
    try:
        module = importlib.import_module(f"bench.{name}")
        rows = module.run(quick=quick)
        payload: dict[str, Any] = {"rows": json.loads(json.dumps(rows, default=str))}
    except Exception as e:
        traceback.print_exc()
        payload = {"error": f"{type(e).__name__}: {e}"}
    print(MARKER + json.dumps(payload), flush=True)


# ----------------------------------------------------------------------------- report


def _generic_table(rows: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")).replace("|", "\\|") for k in keys) + " |")
    return "\n".join(lines)


def _mark(passed: bool | None) -> str:
    return "✔" if passed is True else "✘" if passed is False else "?"


def section(
    name: str,
    module: Any,
    rows: list[dict[str, Any]] | None,
    error: str | None,
    seconds: float,
    info: dict[str, Any] | None = None,
):
    """(markdown section, targets). ``info`` stamps the section with its own commit and load, so a
    section rerun alone (``--only``) still says what it measured."""
    title = getattr(module, "TITLE", None) or name
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    stamp = f" (commit {info['commit']}, load average at start {info['load']})" if info else ""
    parts = [f"## {title}", f"`bench/{name}.py`, {seconds:.0f} s, finished {when}{stamp}."]
    doc = (getattr(module, "__doc__", None) or "").strip()
    if doc:
        parts.append(doc.split("\n\nRun ")[0].strip())
    found: list[dict[str, Any]] = []
    if error is not None:
        parts.append(f"**Failed:** `{error}`")
    if rows:
        try:
            table = (
                module.markdown(rows) if callable(getattr(module, "markdown", None)) else _generic_table(rows)
            )
        except Exception as e:
            table = _generic_table(rows) + f"\n\n(its own table failed: {type(e).__name__}: {e})"
        parts.append(table)
        if callable(getattr(module, "targets", None)):
            try:
                found = list(module.targets(rows))
            except Exception as e:
                found = [{"target": f"{name} targets", "passed": None, "detail": f"{type(e).__name__}: {e}"}]
    elif error is None:
        parts.append("No rows.")
    if found:
        parts.append(
            "Targets:\n\n" + "\n".join(f"- {_mark(t['passed'])} {t['target']}: {t['detail']}" for t in found)
        )
    return "\n\n".join(parts), found


def target_line(name: str, t: dict[str, Any]) -> str:
    return f"- {_mark(t['passed'])} {t['target']} ({name}): {t['detail']}"


def previous_sections(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Module name -> (its section, its lines of the Targets list) in an existing report."""
    if not path.exists():
        return {}
    chunks = re.split(r"\n(?=## )", path.read_text(encoding="utf-8"))
    targets = [
        ln for c in chunks if c.startswith("## Targets") for ln in c.splitlines() if ln.startswith("- ")
    ]
    out: dict[str, tuple[str, list[str]]] = {}
    for chunk in chunks:
        found = re.search(r"`bench/(bench_\w+)\.py`", chunk)
        if chunk.startswith("## ") and found and not chunk.startswith(("## Machine", "## Targets")):
            name = found.group(1)
            out[name] = (chunk.strip(), [ln for ln in targets if f"({name}):" in ln])
    return out


def notes(path: Path) -> list[str]:
    """Sections of an existing report that no module wrote (records of main-job runs and the like):
    kept, after the modules' sections, whenever the report is written again."""
    if not path.exists():
        return []
    chunks = re.split(r"\n(?=## )", path.read_text(encoding="utf-8"))
    return [
        c.strip()
        for c in chunks
        if c.startswith("## ")
        and not c.startswith(("## Machine", "## Targets"))
        and not re.search(r"`bench/(bench_\w+)\.py`", c)
    ]


def report(info: dict[str, Any], sections: list[str], all_targets: list[str], quick: bool) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    head = [
        "# Benchmarks",
        "Generated by `python -m bench.run_all"
        + (" --quick" if quick else "")
        + "`; do not edit by hand."
        + (" **Quick mode: smaller inputs, fewer repeats.**" if quick else ""),
        "## Machine",
        "\n".join(
            [
                f"- Date: {info['date']} (commit {info['commit']})",
                f"- CPU: {info['cpu']}; {info['cores']}",
                f"- Memory: {info['memory']}; load average at start {info['load']}",
                f"- Python {info['python']} on {info['platform']}",
                f"- Versions: {versions}",
                "- The machine is shared: other processes' load makes timings noisy; each table shows "
                "the spread of its repeats.",
            ]
        ),
        "## Targets",
    ]
    if all_targets:
        head.append("\n".join(all_targets))
    else:
        head.append("No targets were measured.")
    return "\n\n".join(head + sections) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args
    if args[:1] == ["--child"]:
        _child(args[1], quick)
        return 0
    output = ROOT / "BENCHMARKS.md"
    if "--output" in args:
        output = Path(args[args.index("--output") + 1])
    only: list[str] = []
    if "--only" in args:  # every name after --only, up to the next option
        for a in args[args.index("--only") + 1 :]:
            if a.startswith("--"):
                break
            only.append(a)
    kept = previous_sections(output) if only else {}
    hand_written = notes(output)
    info = machine()
    sections: list[str] = []
    all_targets: list[str] = []
    for name in discover():
        if only and name not in only and name.removeprefix("bench_") not in only:
            if name in kept:
                sections.append(kept[name][0])
                all_targets += kept[name][1]
            continue
        module, problem = _has_run(name)
        if problem is None:
            continue  # a helper module without run(quick)
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        if problem:
            rows, error, seconds = None, problem, 0.0
        else:
            rows, error, seconds = run_one_in_child(name, quick)
        text, found = section(name, module, rows, error, seconds, info)
        sections.append(text)
        all_targets += [target_line(name, t) for t in found]
        print(f"[run_all] {name}: {'failed: ' + error if error else 'ok'} ({seconds:.0f} s)", file=sys.stderr)
        partial = report(info, sections + hand_written, all_targets, quick)
        output.write_text(partial, encoding="utf-8")  # partial results
    output.write_text(report(info, sections + hand_written, all_targets, quick), encoding="utf-8")
    print(f"[run_all] wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
