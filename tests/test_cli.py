"""The command line on tiny models: every command, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TEXTS, get_model
from typer.testing import CliRunner

from valuescope.cli import app
from valuescope.tensors import load_tensors

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_help_lists_every_command() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("models", "extract", "rate", "generate", "studies", "run", "report", "sweep"):
        assert command in out


def test_models_lists_the_registry_with_cache_state() -> None:
    code, out = invoke("models")
    assert code == 0
    assert "gemma-3-270m" in out and "smollm2-135m-instruct" in out and "tiny-gptneox" in out
    assert "cached" in out.splitlines()[0]


def test_extract_writes_residuals_equal_to_the_api(tmp_path: Path) -> None:
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "acts.safetensors"
    code, output = invoke("extract", "-m", "tiny-llama", "-i", str(src), "--layers", "0,2,-1", "-o", str(out))
    assert code == 0, output
    tensors, meta = load_tensors(out)
    expected = get_model("tiny-llama").residuals(TEXTS, layers=[0, 2, 4])
    assert isinstance(expected, torch.Tensor)
    assert torch.equal(tensors["residuals"], expected)
    assert meta["read_points"] == [0, 2, 4] and meta["pool"] == "last"


def test_rate_prints_a_table_and_writes_csv(tmp_path: Path) -> None:
    code, out = invoke("rate", "-m", "tiny-gpt2", "-p", "Honesty matters. Answer:", "--options", "1,2,3")
    assert code == 0, out
    assert "expected" in out and "p_1" in out
    csv = tmp_path / "r.csv"
    code, out = invoke("rate", "-m", "tiny-gpt2", "-p", "A", "-p", "B", "--options", "1,2,3", "-o", str(csv))
    assert code == 0, out
    table = pd.read_csv(csv)
    assert list(table["prompt"]) == ["A", "B"]
    assert table[["p_1", "p_2", "p_3"]].sum(axis=1).round(5).eq(1).all()


def test_generate_prints_each_prompt_and_its_continuation() -> None:
    code, out = invoke("generate", "-m", "tiny-qwen3", "-p", "Hello there", "--max-new-tokens", "4")
    assert code == 0, out
    [expected] = get_model("tiny-qwen3").generate(["Hello there"], max_new_tokens=4)
    assert expected.strip()
    assert f"> Hello there\n{expected.strip()}\n" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["extract", "-m", "tiny-gpt2", "-i", "/no/such/file.txt"], "/no/such/file.txt"),
        (["extract", "-m", "tiny-gpt2", "--layers", "a,b"], "--layers"),
        (["rate", "-m", "tiny-gpt2", "--options", "1"], "no texts"),
        (["rate", "-m", "tiny-gpt2", "-p", "x", "--options", "1"], "at least two"),
        (["rate", "-m", "no-such-model", "-p", "x"], "valuescope models"),
    ],
)
def test_bad_input_exits_with_a_one_line_error(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from valuescope.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_studies_lists_one_per_line_name_first() -> None:
    code, out = invoke("studies")
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines[0].split()[0] == "readout-check"
    code, out = invoke("studies", "--details")
    assert code == 0 and "n_pairs" in out and "profile quick" in out


def test_run_then_report_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("studies:\n  readout-check: {n_pairs: 8, n_boot: 100, n_perm: 20, folds: 4}\n")
    out = tmp_path / "run"
    args = ["run", "readout-check", "-m", "tiny-qwen3", "--profile", "quick", "-c", str(config)]
    args += ["-o", str(out)]
    code, text = invoke(*args, "--quiet")
    assert code == 0, text
    assert "summary.json" in text and (out / "report.html").is_file()
    (out / "report.html").unlink()
    code, text = invoke("report", str(out))
    assert code == 0 and (out / "report.html").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].split()[0] == "valuescope"  # the rest is sys.argv, pytest's here


@pytest.mark.slow
def test_run_errors_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "valuescope.cli", "run", "nope", "-m", "tiny-gpt2", "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown study 'nope'" in result.stderr
