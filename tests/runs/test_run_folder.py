"""A run folder that two processes cannot corrupt: the lock, resume against the whole resolved run,
temp files of killed writers, damaged records named, and no credentials on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from valuescope.runs import resume
from valuescope.runs.config import ConfigError, RunPlan, make_plan
from valuescope.runs.execute import RUN_FILE, prepare
from valuescope.runs.lock import LOCK_FILE, run_lock
from valuescope.runs.units import UnitFileError, read_unit, write_unit
from valuescope.studies.protocol import Artifacts

MODELS = ["tiny-gpt2", "tiny-llama"]
STEPS = ["ratings", "direction", "ablation"]
STUDY = "readout-check"


def plan_for(out: Path, **kw: object) -> RunPlan:
    plan = make_plan(STUDY, MODELS, out, profile="quick")
    for key, value in kw.items():
        setattr(plan, key, value)
    return plan


def fake_units(out: Path, data_files: dict[str, str] | None = None) -> None:
    """Finished units for both models and the compare unit, as a run would leave them."""
    for model in MODELS:
        for step in STEPS:
            meta = {"study": STUDY, "model": model, "step": step, "seed": 0, "status": "computed"}
            if step == "ratings" and data_files:
                meta["data_files"] = data_files
            write_unit(out / "units" / STUDY / model / step, Artifacts(data={"x": 1}), meta)
    write_unit(out / "units" / STUDY / "_all" / "compare-abc", Artifacts(), {"step": "compare"})


def units_left(out: Path) -> set[str]:
    return {
        str(p.parent.relative_to(out / "units" / STUDY)) for p in (out / "units" / STUDY).rglob("unit.json")
    }


# ----------------------------------------------------------------------------- the lock
def test_a_second_holder_is_refused_at_once_naming_the_first(tmp_path: Path) -> None:
    with run_lock(tmp_path / "out", "valuescope run first"):
        started = time.monotonic()
        with (
            pytest.raises(
                ConfigError, match=rf"in use by process {os.getpid()} on host .*valuescope run first"
            ),
            run_lock(tmp_path / "out"),
        ):
            pass
        assert time.monotonic() - started < 2
    with run_lock(tmp_path / "out"):  # released at the end of the block
        pass


@pytest.mark.slow
def test_a_second_valuescope_run_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "valuescope.cli", "run", STUDY, "--model", "tiny-gpt2", "--profile", "quick",
        "--out", str(out), "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with run_lock(out, "the first run"):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"in use by process {os.getpid()}" in done.stderr
    assert not (out / "units").exists() and not (out / RUN_FILE).exists()


@pytest.mark.slow
def test_a_lock_held_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from valuescope.runs.lock import run_lock\nimport time\n"
         f"with run_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"process {holder.pid}"), run_lock(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(out):
        pass


def test_a_folder_that_is_not_a_run_gets_no_lock_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no valuescope run"), run_lock(tmp_path):
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_lock_file_does_not_make_a_new_folder_look_foreign(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with run_lock(out):
        assert (out / LOCK_FILE).is_file()
        prepare(plan_for(out), force=False)
    assert (out / RUN_FILE).is_file()


# ------------------------------------------------------------------ killed writers, damaged records
def test_temp_files_of_killed_writers_are_removed_at_start(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    fake_units(out)
    leftovers = [
        out / "units" / STUDY / "tiny-gpt2" / ".ratings.x1y2.tmp",
        out / "tables" / ".readout-check__x.csv.abcd.tmp",
    ]
    leftovers[0].mkdir(parents=True)
    (leftovers[0] / "unit.json").write_text("{")
    leftovers[1].parent.mkdir(parents=True)
    leftovers[1].write_text("half")
    prepare(plan_for(out), force=False)
    assert not any(p.exists() for p in leftovers)
    assert units_left(out) == {f"{m}/{s}" for m in MODELS for s in STEPS} | {"_all/compare-abc"}


def test_a_damaged_run_json_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    (out / RUN_FILE).write_text('{"configs": ')
    with pytest.raises(ConfigError, match=rf"{out / RUN_FILE} is damaged .*--force"):
        prepare(plan_for(out), force=False)
    prepare(plan_for(out), force=True)
    assert json.loads((out / RUN_FILE).read_text())["configs"]


def test_a_damaged_unit_json_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "units" / "s" / "m" / "step"
    write_unit(folder, Artifacts(data={"x": 1}), {"seed": 1})
    (folder / "unit.json").write_text('{"seed": 1, "metr')
    with pytest.raises(
        UnitFileError, match=rf"{folder / 'unit.json'} is damaged .*delete the folder {folder}"
    ):
        read_unit(folder)


def test_a_damaged_table_is_named(tmp_path: Path) -> None:
    import pandas as pd

    folder = tmp_path / "u"
    write_unit(folder, Artifacts(tables={"t": pd.DataFrame({"a": [1]})}), {"seed": 1})
    (folder / "tables" / "t.json").write_text("[1, 2")
    with pytest.raises(UnitFileError, match=r"tables/t\.json is damaged"):
        read_unit(folder)


# ----------------------------------------------------------------------------- resume: the whole resolved run
def test_changed_model_options_recompute_only_that_models_units(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    fake_units(out)
    changes = prepare(plan_for(out, model_options={"tiny-llama": {"dtype": "bfloat16"}}), force=False)
    assert len(changes) == 1 and "tiny-llama" in changes[0] and "dtype: None -> 'bfloat16'" in changes[0]
    assert units_left(out) == {f"tiny-gpt2/{s}" for s in STEPS}, "the compare unit's input changed too"
    assert prepare(plan_for(out, model_options={"tiny-llama": {"dtype": "bfloat16"}}), force=False) == []


def test_a_new_valuescope_version_recomputes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    fake_units(out)
    monkeypatch.setattr(resume, "valuescope_version", lambda: "99.0")
    changes = prepare(plan_for(out), force=False)
    assert any("valuescope version" in c and "99.0" in c for c in changes)
    assert units_left(out) == set()


def test_a_changed_data_file_recomputes_the_units_that_read_it(tmp_path: Path) -> None:
    from valuescope.files import sha256_file

    data = tmp_path / "pairs.csv"
    data.write_text("pair,good,bad\n")
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    fake_units(out, {str(data): sha256_file(data)})
    assert prepare(plan_for(out), force=False) == []
    data.write_text("pair,good,bad\n1,a,b\n")
    changes = prepare(plan_for(out), force=False)
    assert len(changes) == 2 and all(str(data) in c and "changed" in c for c in changes)
    assert units_left(out) == set(), "ratings read it; the later steps read ratings; compare read them all"


def test_a_compare_unit_goes_when_one_of_its_inputs_will_be_computed_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    fake_units(out)
    assert prepare(plan_for(out), force=False) == []
    assert "_all/compare-abc" in units_left(out), "nothing changed: the compare unit stays"
    meta = {"study": STUDY, "model": "tiny-llama", "step": "ablation", "seed": 0, "status": "failed"}
    write_unit(out / "units" / STUDY / "tiny-llama" / "ablation", Artifacts(), meta)
    prepare(plan_for(out), force=False)
    assert units_left(out) == {f"{m}/{s}" for m in MODELS for s in STEPS}


def test_a_study_config_change_is_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(plan_for(out), force=False)
    other = make_plan(STUDY, MODELS, out, profile="demo")
    with pytest.raises(ConfigError, match="different config"):
        prepare(other, force=False)


def test_credentials_in_an_api_base_url_never_reach_run_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    api = {"remote": {"base_url": "https://bob:hunter2-secret@api.example.com/v1", "model": "m"}}
    prepare(plan_for(out, api_models=api), force=False)
    text = (out / RUN_FILE).read_text()
    assert "hunter2-secret" not in text and "bob" not in text
    assert json.loads(text)["api_models"]["remote"]["base_url"] == "https://***@api.example.com/v1"


def test_an_api_spec_change_is_listed_and_a_credential_change_is_not(tmp_path: Path) -> None:
    out = tmp_path / "out"
    models = ["tiny-gpt2", "remote"]
    api = {"remote": {"base_url": "https://u:one@api.example.com/v1", "model": "m"}}
    plan = make_plan(STUDY, models, out, profile="quick")
    plan.api_models = api
    prepare(plan, force=False)
    plan.api_models = {"remote": {"base_url": "https://u:two@api.example.com/v1", "model": "m"}}
    assert prepare(plan, force=False) == []
    plan.api_models = {"remote": {"base_url": "https://u:two@api.example.com/v1", "model": "m2"}}
    changes = prepare(plan, force=False)
    assert len(changes) == 1 and "remote" in changes[0] and "model: 'm' -> 'm2'" in changes[0]


def test_trust_remote_code_is_recorded_in_what_the_manifest_reads() -> None:
    from valuescope import load_model

    assert load_model("tiny-gpt2").describe()["trust_remote_code"] is False
