"""Everything a config names is checked when the run is planned: one error listing every problem."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from valuescope.runs.config import ConfigError, make_plan
from valuescope.runs.execute import execute
from valuescope.runs.plan_checks import check_plan, data_fields, model_fields
from valuescope.studies.registry import get_study


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_model_and_data_fields_are_found_generically() -> None:
    indifference = get_study("indifference").Config.for_profile("quick", {"prompts": "p.csv", "sae": "s"})
    assert model_fields(indifference) == {"judge_model": "smollm2-135m-instruct"}
    assert data_fields(indifference) == {"prompts": "p.csv", "sae": "s"}
    mechanisms = get_study("mechanisms").Config.for_profile("quick", {"judge_model": "x", "queries": "q"})
    assert model_fields(mechanisms) == {"judge_model": "x"} and data_fields(mechanisms) == {"queries": "q"}


def test_an_unknown_judge_model_fails_at_once_naming_the_field(tmp_path: Path) -> None:
    path = config(tmp_path, "studies:\n  indifference: {judge_model: no-such-judge-xyz}\n")
    plan = make_plan("indifference", ["tiny-gpt2"], tmp_path / "o", config_file=path, profile="quick")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"studies\.indifference\.judge_model: 'no-such-judge-xyz'"):
        execute(plan, quiet=True)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "o").exists(), "nothing is written before the checks pass"


def test_every_problem_is_listed_in_one_error(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        "model_options:\n  tiny-gpt2: {dtype: float13}\n"
        "studies:\n"
        "  indifference: {judge_model: no-such-judge-xyz, prompts: flames, sae_corpus: nowhere.txt}\n"
        "  mechanisms: {labeller: judge, judge_model: other-missing-judge}\n",
    )
    plan = make_plan("all", ["tiny-gpt2", "no-such-model-xyz"], tmp_path / "o", config_file=path)
    plan.data_root = None
    with pytest.raises(ConfigError) as info:
        check_plan(plan)
    message = str(info.value)
    for expected in (
        "--model no-such-model-xyz",
        "model_options.tiny-gpt2.dtype: 'float13'",
        "studies.indifference.judge_model",
        "studies.mechanisms.judge_model: 'other-missing-judge'",
        "studies.indifference.sae_corpus: nowhere.txt does not exist",
    ):
        assert expected in message, expected
    assert "problems:" in message and message.count("\n  - ") >= 5


def test_a_judge_may_be_a_run_model_an_api_model_or_self(tmp_path: Path) -> None:
    for judge in ("tiny-llama", "self", "remote-judge", "smollm2-135m-instruct"):
        path = config(
            tmp_path,
            "api_models:\n  remote-judge: {base_url: 'http://127.0.0.1:1/v1', model: m}\n"
            f"studies:\n  indifference: {{judge_model: {judge}}}\n",
        )
        plan = make_plan("indifference", ["tiny-gpt2", "tiny-llama"], tmp_path / "o", config_file=path)
        if judge == "remote-judge":
            with pytest.raises(ConfigError, match=r"api_models\.remote-judge: cannot reach"):
                check_plan(plan)  # a named API judge's server is asked too (nothing listens on port 1)
        else:
            check_plan(plan)


def test_a_data_keyword_needs_its_file_in_the_data_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = config(tmp_path, "studies:\n  indifference: {prompts: flames}\n")
    plan = make_plan("indifference", ["tiny-gpt2"], tmp_path / "o", config_file=path, data=tmp_path / "data")
    with pytest.raises(ConfigError, match=r"studies\.indifference\.prompts: flames reads flames/"):
        check_plan(plan)


def test_plain_http_to_another_machine_warns(tmp_path: Path) -> None:
    path = config(tmp_path, "api_models:\n  far: {base_url: 'http://u:pw@10.9.8.7:8080/v1', model: m}\n")
    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path / "o", config_file=path)
    with pytest.warns(UserWarning, match=r"api_models\.far\.base_url http://\*\*\*@10\.9\.8\.7.*unencrypted"):
        check_plan(plan)


@pytest.mark.slow
def test_the_cli_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = config(tmp_path, "studies:\n  indifference: {judge_model: no-such-judge-xyz}\n")
    command = [
        sys.executable, "-m", "valuescope.cli", "run", "indifference", "--model", "tiny-gpt2",
        "--config", str(path), "--out", str(tmp_path / "o"), "--quiet",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 2 and "studies.indifference.judge_model" in done.stderr
