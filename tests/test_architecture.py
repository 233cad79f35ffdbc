"""The package's shape, checked on its own imports: floors point down, no circles, no study reaches into
another, no private name crosses a module, no file over 500 lines (DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from pathlib import Path

import pytest

import valuescope

SRC = Path(valuescope.__file__).parent
MAX_LINES = 500

FLOORS: dict[str, int] = {
    "stats": 0,
    "data": 0,
    "tensors": 0,
    "files": 0,
    "version": 0,
    "models": 1,
    "model": 2,
    "readout": 3,
    "edit": 3,
    "instruments": 3,
    "language_model": 4,
    "studies": 5,
    "report": 6,
    "runs": 7,
    "cli": 8,
}
"""Floor of each top-level module or package: an import may only go to the same floor or below."""

SHARED_STUDY_MODULES = {"protocol", "registry"}
"""Modules of ``studies/`` that are not a study: the protocol every study implements, and the registry."""


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(module: str) -> list[Import]:
    """Every import of a valuescope module in ``module``, at any depth (lazy and TYPE_CHECKING ones too)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [
                Import(module, a.name, (), node.lineno) for a in node.names if a.name.startswith("valuescope")
            ]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base]).strip(".")
            if not base.startswith("valuescope"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    out.append(Import(module, sub, (), node.lineno))
                else:
                    out.append(Import(module, base, (alias.name,), node.lineno))
    return out


ALL_IMPORTS = [imp for m in MODULES for imp in imports_of(m)]


def floor(module: str) -> int | None:
    parts = module.split(".")
    return None if len(parts) == 1 else FLOORS[parts[1]]


def study_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "studies" and parts[2] not in SHARED_STUDY_MODULES:
        return parts[2]
    return None


def test_every_top_level_module_has_a_floor() -> None:
    tops = {m.split(".")[1] for m in MODULES if "." in m}
    assert tops <= set(FLOORS), f"give these a floor in FLOORS: {sorted(tops - set(FLOORS))}"


def test_imports_point_down() -> None:
    bad = []
    for imp in ALL_IMPORTS:
        src, dst = floor(imp.source), floor(imp.target)
        if src is None:  # the package's face (valuescope/__init__.py) hands on names from above
            continue
        if dst is None:
            bad.append(f"{imp.source}:{imp.line} imports the package root; import the defining module")
        elif dst > src:
            bad.append(f"{imp.source}:{imp.line} (floor {src}) imports {imp.target} (floor {dst})")
    assert not bad, "imports that run back up:\n" + "\n".join(bad)


def test_no_study_imports_another() -> None:
    bad = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if study_of(imp.source) and study_of(imp.target) and study_of(imp.source) != study_of(imp.target)
    ]
    assert not bad, "a study reaches into another:\n" + "\n".join(bad)


def test_no_private_name_crosses_a_module() -> None:
    bad = [
        f"{imp.source}:{imp.line} imports {name} from {imp.target}"
        for imp in ALL_IMPORTS
        for name in imp.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_no_import_circle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        target = imp.target
        while target not in MODULES:
            target = target.rpartition(".")[0]
        if target not in (imp.source, "valuescope"):
            graph[imp.source].add(target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")


def test_no_file_over_the_limit() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in MODULES.values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these by responsibility (over {MAX_LINES} lines): {long}"


MODEL_WORK = {"residuals", "rate", "generate", "logprob", "neurons"}
"""Model methods that take ``progress``: a study passes the run's (``ctx.progress``), so ``-q`` is quiet."""


def test_studies_pass_the_runs_progress_setting_to_model_work() -> None:
    silent = [
        f"{path.relative_to(SRC)}:{node.lineno} .{node.func.attr}(...)"
        for path in (SRC / "studies").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MODEL_WORK
        and not any(k.arg in ("progress", None) for k in node.keywords)
    ]
    assert not silent, f"pass progress=ctx.progress (or progress=False) here: {silent}"
