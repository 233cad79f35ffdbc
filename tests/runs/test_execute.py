"""Runs end to end on tiny models: the run folder's contract, resume, --force and refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from valuescope.runs.config import ConfigError, make_plan
from valuescope.runs.execute import execute
from valuescope.stats.metrics import check_metric

MODELS = ["tiny-gpt2", "tiny-llama"]
FAST = """
seed: 3
studies:
  readout-check: {n_pairs: 8, n_boot: 200, n_perm: 50, folds: 4, n_random: 1, min_n_per_cell: 4}
"""


def fast_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "fast.yaml"
    path.write_text(FAST + extra)
    return path


def run(out: Path, config: Path, **kw: object) -> dict:
    plan = make_plan("readout-check", MODELS, out, config_file=config, profile="quick")
    execute(plan, quiet=True, **kw)  # type: ignore[arg-type]
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("run")
    config = fast_config(tmp)
    out = tmp / "out"
    return out, config, run(out, config)


def test_summary_follows_the_contract(finished: tuple[Path, Path, dict]) -> None:
    out, _, _ = finished
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"failed_units", "readout-check"}
    assert summary["failed_units"] == []
    per_model = summary["readout-check"]
    assert set(per_model) == {*MODELS, "_all"}, "model keys are the --model arguments, plus _all"
    for model in MODELS:
        assert {"rating_gap", "direction_accuracy", "ablation_kl", "ablation_gap_change_vs_random"} <= set(
            per_model[model]
        )
        assert "layer" in per_model[model]["direction_accuracy"]
    assert "rating_gap_difference" in per_model["_all"]
    for model, metrics in per_model.items():
        for name, entry in metrics.items():
            check_metric(name, entry, f"{model}")
            if entry["estimate"] is not None and not name.startswith("n_"):
                assert (
                    math.isfinite(entry["ci_low"])
                    and entry["ci_low"] <= entry["estimate"] <= entry["ci_high"]
                )


def test_manifest_says_what_produced_the_run(finished: tuple[Path, Path, dict]) -> None:
    out, _, manifest = finished
    for key in ("valuescope_version", "git_commit", "models", "studies", "data_files", "seeds", "libraries",
                "platform", "timings", "outputs"):  # fmt: skip
        assert key in manifest, key
    for model in MODELS:
        assert manifest["models"][model]["weights_sha256"]
    config = manifest["studies"]["readout-check"]["config"]
    assert config["n_pairs"] == 8 and config["profile"] == "quick" and config["seed"] == 3
    steps = {(t["model"], t["step"]) for t in manifest["timings"]}
    assert ("tiny-gpt2", "direction") in steps and ("_all", "compare") in steps
    assert all(t["status"] == "computed" for t in manifest["timings"])
    for kind in ("tables", "figures", "tensors"):
        for entry in manifest["outputs"]["readout-check"][kind]:
            assert (out / entry["file"]).is_file(), entry
    assert any(f["name"] == "layer_accuracy" for f in manifest["outputs"]["readout-check"]["figures"])
    assert (out / "figures" / "readout-check__layer_accuracy.png").is_file()
    from valuescope.report import write_report

    assert write_report(out) == out / "report.html"


def test_rerun_reuses_every_unit_and_gives_identical_results(finished: tuple[Path, Path, dict]) -> None:
    out, config, _ = finished
    before = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}
    summary = (out / "summary.json").read_text()
    manifest = run(out, config)
    assert all(t["status"] == "reused" for t in manifest["timings"])
    assert (out / "summary.json").read_text() == summary
    assert {p.name: p.read_bytes() for p in (out / "tables").iterdir()} == before


def test_a_different_config_is_refused_and_nothing_is_lost(
    finished: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    out, _, _ = finished
    summary = (out / "summary.json").read_text()
    other = tmp_path / "other.yaml"
    other.write_text(FAST.replace("n_pairs: 8", "n_pairs: 10"))
    with pytest.raises(ConfigError, match=r"different config \(n_pairs: 8 -> 10\).*--force"):
        run(out, other)
    assert (out / "summary.json").read_text() == summary


def test_force_recomputes(tmp_path: Path) -> None:
    config = fast_config(tmp_path)
    out = tmp_path / "out"
    plan = make_plan("readout-check", ["tiny-gpt2"], out, config_file=config, profile="quick")
    execute(plan, quiet=True)
    first = json.loads((out / "summary.json").read_text())
    execute(plan, quiet=True, force=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(t["status"] == "computed" for t in manifest["timings"])
    assert json.loads((out / "summary.json").read_text()) == first, "same seeds, same results"


def test_a_folder_that_is_not_a_run_is_never_touched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path, config_file=fast_config(tmp_path / ".."))
    with pytest.raises(ConfigError, match="not empty and holds no valuescope run"):
        execute(plan, quiet=True, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"study": "nope"}, "unknown study 'nope'"),
        ({"models": []}, "no model given"),
        ({"models": ["tiny-gpt2", "tiny-gpt2"]}, "twice"),
        ({"profile": "huge"}, "--profile 'huge'"),
    ],
)
def test_bad_arguments_fail_before_model_work(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"study": "readout-check", "models": ["tiny-gpt2"], "profile": "quick", **kwargs}
    with pytest.raises(ConfigError, match=message):
        make_plan(args["study"], args["models"], tmp_path / "o", profile=args["profile"])
    assert not (tmp_path / "o").exists()


def test_unknown_model_fails_before_any_unit(tmp_path: Path) -> None:
    plan = make_plan("readout-check", ["tiny-gpt2", "no-such-model-xyz"], tmp_path / "o", profile="quick")
    with pytest.raises(ValueError, match="no-such-model-xyz"):
        execute(plan, quiet=True)
    assert not (tmp_path / "o" / "units").exists()


def test_result_tables_stack_models(tmp_path: Path) -> None:
    from valuescope import run_study

    result = run_study(
        "readout-check", MODELS, config_file=fast_config(tmp_path), profile="quick", quiet=True
    )
    table = result.table("layers")  # type: ignore[union-attr]
    assert isinstance(table, pd.DataFrame) and list(table["model"].unique()) == MODELS
    assert table.columns[0] == "model"


def test_every_data_file_read_is_hashed_in_the_manifest(tmp_path: Path) -> None:
    import hashlib

    from valuescope.studies.readout_check.config import load_pairs

    pairs = load_pairs(None, 8)
    stimuli = tmp_path / "data" / "mine.csv"
    stimuli.parent.mkdir()
    pairs.to_csv(stimuli, index=False)
    config = fast_config(tmp_path)
    text = config.read_text().replace("min_n_per_cell: 4}", f"min_n_per_cell: 4, stimuli: '{stimuli}'}}")
    config.write_text(text)
    out = tmp_path / "out"
    data = tmp_path / "data"
    plan = make_plan("readout-check", ["tiny-gpt2"], out, config_file=config, profile="quick", data=data)
    execute(plan, quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    digest = hashlib.sha256(stimuli.read_bytes()).hexdigest()
    assert manifest["data_files"] == {str(stimuli.resolve()): digest}
    assert manifest["data_root"] == str(tmp_path / "data")


def test_a_bad_stimuli_file_names_the_row(tmp_path: Path) -> None:
    from valuescope.studies.readout_check.config import load_pairs

    bad = tmp_path / "bad.csv"
    bad.write_text("pair,good,bad\n1,Helped.,Hurt.\n2,,Lied.\n")
    with pytest.raises(ValueError, match=r"bad\.csv, row 3: empty statement"):
        load_pairs(bad, 2)
