"""Config files: unknown keys and wrong types are one-line errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuescope.runs.config import ConfigError, load_run_file, make_plan
from valuescope.studies.registry import get_study, studies


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_profiles_set_defaults_and_the_file_overrides_them(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 5\nstudies:\n  readout-check: {n_pairs: 10}\n")
    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path / "o", config_file=path, profile="quick")
    cfg = plan.configs["readout-check"]
    quick = get_study("readout-check").Config.PROFILE_OVERRIDES["quick"]
    assert cfg.profile == "quick" and cfg.seed == 5 and cfg.n_pairs == 10  # type: ignore[attr-defined]
    assert cfg.n_perm == quick["n_perm"]  # type: ignore[attr-defined]


def test_all_means_every_registered_study(tmp_path: Path) -> None:
    plan = make_plan("all", ["tiny-gpt2"], tmp_path / "o")
    assert list(plan.configs) == list(studies()) and "readout-check" in plan.configs
    assert plan.configs["readout-check"].profile == "demo", "demo is the default profile"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("studies:\n  readout-check: {n_pair: 10}\n", "studies.readout-check: n_pair: unknown key"),
        (
            "studies:\n  readout-check: {n_pairs: many}\n",
            "studies.readout-check: n_pairs: Input should be a valid integer",
        ),
        ("studies:\n  nope: {}\n", "studies.nope: unknown study"),
        ("colour: red\n", "colour: unknown key"),
        ("profile: huge\n", "profile:"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_config_files_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        make_plan("readout-check", ["tiny-gpt2"], tmp_path / "o", config_file=path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_file(tmp_path / "absent.yaml")


def test_a_missing_data_folder_fails_at_once(tmp_path: Path) -> None:
    from valuescope.runs.execute import execute

    plan = make_plan("readout-check", ["tiny-gpt2"], tmp_path / "o", data=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"data folder .*nowhere does not exist"):
        execute(plan, quiet=True)
    assert not (tmp_path / "o").exists()
