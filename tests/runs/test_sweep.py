"""Sweeps: models x studies x overrides, locally and on a local Ray instance."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from valuescope.runs.config import ConfigError
from valuescope.runs.sweep import load_sweep, run_sweep

SWEEP = """
out: {out}
models: [tiny-gpt2, tiny-llama]
studies: [readout-check]
profile: quick
executor: {executor}
resources:
  default: {{num_cpus: 1}}
config:
  seed: 1
  studies:
    readout-check: {{n_pairs: 8, n_boot: 100, n_perm: 30, folds: 4, n_random: 1, min_n_per_cell: 4}}
variants:
  base: {{}}
  more: {{readout-check: {{n_pairs: 10}}}}
"""


def sweep_file(tmp_path: Path, executor: str = "local", body: str = SWEEP) -> Path:
    path = tmp_path / f"sweep-{executor}.yaml"
    path.write_text(body.format(out=tmp_path / executor, executor=executor))
    return path


def test_local_sweep_writes_one_run_per_variant(tmp_path: Path) -> None:
    folders = run_sweep(load_sweep(sweep_file(tmp_path)), quiet=True)
    assert [f.name for f in folders] == ["base", "more"]
    pairs = []
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        pairs.append(manifest["studies"]["readout-check"]["config"]["n_pairs"])
        assert set(json.loads((folder / "summary.json").read_text())["readout-check"]) == {
            "tiny-gpt2", "tiny-llama", "_all"
        }  # fmt: skip
    assert pairs == [8, 10]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.replace("studies: [readout-check]", "studies: [readout-check, nope]"),
            "unknown study 'nope'",
        ),
        (lambda s: s.replace("more: {{readout-check", "more: {{entangle"), "variants.more"),
        (lambda s: s.replace("n_pairs: 10", "n_pairs: ten"), "n_pairs"),
        (lambda s: s.replace("profile: quick", "profile: quick\ncolour: red"), "colour: unknown key"),
        (lambda s: s.replace("executor: {executor}", "executor: slurm"), "executor"),
        (lambda s: s.replace("  more: {{", "  '../x': {{"), r"variants\.\.\./x: a variant name is a folder"),
        (lambda s: s.replace("  more: {{", "  /tmp/abs: {{"), "a variant name is a folder under out"),
        (lambda s: s.replace("  more: {{", "  a/b: {{"), "a variant name is a folder under out"),
    ],
)
def test_bad_sweep_files_fail_before_model_work(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = sweep_file(tmp_path, body=edit(SWEEP))
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)
    assert not (tmp_path / "local").exists()


@pytest.mark.slow
def test_ray_sweep_writes_the_same_layout_as_local(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'valuescope[ray]'")
    local = run_sweep(load_sweep(sweep_file(tmp_path, "local")), quiet=True)
    remote = run_sweep(load_sweep(sweep_file(tmp_path, "ray")), quiet=True)
    for a, b in zip(local, remote, strict=True):
        assert_same_numbers(
            json.loads((a / "summary.json").read_text()), json.loads((b / "summary.json").read_text())
        )
        assert sorted(p.name for p in (a / "tables").iterdir()) == sorted(
            p.name for p in (b / "tables").iterdir()
        )
        manifest = json.loads((b / "manifest.json").read_text())
        assert {t["model"] for t in manifest["timings"]} == {"tiny-gpt2", "tiny-llama", "_all"}
        local_threads = json.loads((a / "manifest.json").read_text())["platform"]["torch_threads"]
        for unit in (b / "units").rglob("unit.json"):
            meta = json.loads(unit.read_text())
            if "torch_threads" in meta:
                assert meta["torch_threads"] == local_threads, "a Ray worker uses the driver's threads"


RTOL = 1e-5
ATOL = 1e-6
"""Forward passes run in float32 (machine epsilon 1.2e-7). A Ray worker and the driver may pick
different kernels even with the same thread count (CI saw -0.0138076170 vs -0.0138076485 for a
rating gap, a difference of order-one ratings), so summaries agree to float32 rounding, not to the bit."""


def assert_same_numbers(
    a: object,
    b: object,
    where: str = "summary",
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    text_numbers: bool = True,
) -> None:
    """``a`` and ``b`` have the same structure and text, and numbers equal within ``rtol``/``atol``;
    ``text_numbers=False`` compares texts with their decimal numbers masked (notes quote estimates)."""
    same = {"rtol": rtol, "atol": atol, "text_numbers": text_numbers}
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_numbers(a[key], b[key], f"{where}.{key}", **same)  # type: ignore[arg-type]
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_numbers(x, y, f"{where}[{i}]", **same)  # type: ignore[arg-type]
    elif isinstance(a, float) and isinstance(b, float | int):
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=atol), f"{where}: {a} vs {b}"
    elif isinstance(a, str) and isinstance(b, str) and not text_numbers:
        assert DECIMAL.sub("#", a) == DECIMAL.sub("#", b), f"{where}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


DECIMAL = re.compile(r"-?\d+\.\d+")


def test_number_comparison_tolerates_rounding_only() -> None:
    assert_same_numbers({"x": [-0.013807616997, "a"]}, {"x": [-0.013807648517, "a"]})
    assert_same_numbers({"n": 1234.5678}, {"n": 1234.5678 * (1 + 2e-6)})
    with pytest.raises(AssertionError, match=r"summary.x\[0\]"):
        assert_same_numbers({"x": [0.0138]}, {"x": [0.0139]})
    with pytest.raises(AssertionError, match=r"summary.x"):
        assert_same_numbers({"x": "a"}, {"x": "b"})
