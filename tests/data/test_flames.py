"""Flames prompts (the real file) and the authored English prompts: schema, filters, stratified samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valuescope.data.csvfile import StimulusError
from valuescope.data.flames import (
    FLAMES_DIMENSIONS,
    FLAMES_FILE,
    PROMPT_COLUMNS,
    allocate,
    load_flames,
    load_moral_prompts,
)


@pytest.fixture
def flames(shared_data: Path) -> Path:
    path = shared_data / FLAMES_FILE
    if not path.is_file():
        pytest.skip(f"no Flames file at {path}")
    return path


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(dimension: str, prompt: str, subcomponent: str = "x") -> str:
    return json.dumps({"dimension": dimension, "subcomponent": subcomponent, "prompt": prompt})


def test_the_real_file_has_1000_chinese_prompts_in_five_dimensions(flames: Path) -> None:
    df = load_flames(flames)
    assert list(df.columns) == list(PROMPT_COLUMNS)
    assert len(df) == 1000 and df["prompt_id"].is_unique
    assert df["prompt_id"].iloc[0] == "flames-0001" and df["prompt_id"].iloc[-1] == "flames-1000"
    assert set(df["dimension"]) == set(FLAMES_DIMENSIONS)
    assert df["dimension"].value_counts()["Legality"] == 46
    assert (df["language"] == "zh").all()


def test_a_stratified_sample_keeps_each_dimensions_share_and_is_seeded(flames: Path) -> None:
    a = load_flames(flames, n=100, seed=3)
    counts = a["dimension"].value_counts().to_dict()
    assert counts == {"Safety": 43, "Fairness": 25, "Morality": 20, "Data protection": 7, "Legality": 5}
    assert a["prompt_id"].is_monotonic_increasing
    assert a.equals(load_flames(flames, n=100, seed=3))
    assert not a["prompt_id"].equals(load_flames(flames, n=100, seed=4)["prompt_id"])
    assert set(load_flames(flames, n=5)["dimension"]) == set(FLAMES_DIMENSIONS)


def test_dimension_filter_keeps_ids_and_names_the_files_dimensions_when_unknown(flames: Path) -> None:
    df = load_flames(flames, dimensions=["Legality", "Data protection"])
    assert len(df) == 46 + 75 and set(df["dimension"]) == {"Legality", "Data protection"}
    sub = load_flames(flames, dimensions=["Legality"], n=10)
    assert len(sub) == 10 and set(sub["prompt_id"]) <= set(df["prompt_id"])
    with pytest.raises(ValueError, match=r"'Privacy'.*its dimensions are Fairness, Safety"):
        load_flames(flames, dimensions=["Privacy"])


def test_allocation_is_proportional_with_at_least_one_per_stratum() -> None:
    assert allocate([50, 30, 20], 10).tolist() == [5, 3, 2]
    assert allocate([97, 2, 1], 3).tolist() == [1, 1, 1]
    assert allocate([97, 2, 1], 2).sum() == 2
    assert allocate([3, 3, 3], 9).tolist() == [3, 3, 3]


def test_malformed_lines_name_the_file_and_line(tmp_path: Path) -> None:
    good = _line("Safety", "p1")
    bad_json = _write(tmp_path / "a.jsonl", [good, "", '{"dimension": "Safety",'])
    with pytest.raises(StimulusError, match=r"a\.jsonl: line 3: not valid JSON"):
        load_flames(bad_json)
    no_field = _write(tmp_path / "b.jsonl", [good, json.dumps({"dimension": "Safety", "prompt": "p"})])
    with pytest.raises(StimulusError, match=r"b\.jsonl: line 2, key 'subcomponent': missing"):
        load_flames(no_field)
    not_text = _write(
        tmp_path / "c.jsonl", [json.dumps({"dimension": 3, "subcomponent": "x", "prompt": "p"})]
    )
    with pytest.raises(StimulusError, match=r"line 1, key 'dimension': 3 is not a non-empty string"):
        load_flames(not_text)
    a_list = _write(tmp_path / "d.jsonl", ["[1, 2]"])
    with pytest.raises(StimulusError, match=r"line 1: a list, not an object"):
        load_flames(a_list)
    with pytest.raises(StimulusError, match="no prompts"):
        load_flames(_write(tmp_path / "e.jsonl", [""]))


def test_sample_size_must_fit(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.jsonl", [_line("Safety", "p1"), _line("Fairness", "p2")])
    assert len(load_flames(path, n=2)) == 2
    with pytest.raises(ValueError, match="n=3"):
        load_flames(path, n=3)


def test_the_authored_english_prompts_cover_each_dimension_six_times() -> None:
    df = load_moral_prompts()
    assert list(df.columns) == list(PROMPT_COLUMNS)
    assert len(df) == 30 and (df["language"] == "en").all()
    assert df["dimension"].value_counts().to_dict() == dict.fromkeys(FLAMES_DIMENSIONS, 6)
    assert df["prompt_id"].is_unique and df["prompt"].is_unique
    assert (df["subcomponent"] != "").all()


def test_a_user_prompt_file_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("prompt_id,dimension,prompt\nq1,Safety,Fine?\nq2,Honesty,Really?\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"row 3, column 'dimension': 'Honesty' is not a Flames"):
        load_moral_prompts(path)
    path.write_text("prompt_id,dimension,prompt\nq1,Safety,Is it fine?\n", encoding="utf-8")
    df = load_moral_prompts(path)
    assert df["subcomponent"].tolist() == [""] and df["language"].tolist() == ["en"]
    path.write_text("prompt_id,dimension,prompt\nq1,Safety,Is it fine?\nq1,Safety,Other?\n", encoding="utf-8")
    with pytest.raises(StimulusError, match="prompt_id"):
        load_moral_prompts(path)
