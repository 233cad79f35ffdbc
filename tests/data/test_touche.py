"""Touché23-ValueEval and ValueBench's full value-orientation file: real files, and broken copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import raises

from valuescope.data.csvfile import StimulusError
from valuescope.data.touche import SCHWARTZ_OF, load_touche, touche_categories
from valuescope.data.valuebench import load_value_orientation

HEADER = "Argument ID\tConclusion\tStance\tPremise\n"
LABELS = "Argument ID\t" + "\t".join(SCHWARTZ_OF) + "\n"


def folder(tmp_path: Path, arguments: str, labels: str) -> Path:
    (tmp_path / "arguments-training.tsv").write_text(HEADER + arguments)
    (tmp_path / "labels-training.tsv").write_text(LABELS + labels)
    return tmp_path


def row(aid: str, *ones: int) -> str:
    return aid + "\t" + "\t".join("1" if i in ones else "0" for i in range(len(SCHWARTZ_OF))) + "\n"


def test_the_real_splits_have_their_published_sizes(shared_data: Path) -> None:
    train = load_touche(shared_data / "touche23", "training")
    valid = load_touche(shared_data / "touche23", "validation")
    assert (len(train), len(valid)) == (5393, 1896)
    assert list(train.columns[5:]) == list(SCHWARTZ_OF)
    assert not set(train["argument_id"]) & set(valid["argument_id"])
    assert train.iloc[:, 5:].to_numpy().any(axis=1).mean() > 0.95  # nearly every argument has a value
    categories = touche_categories(shared_data / "touche23")
    assert list(categories["category"]) == list(SCHWARTZ_OF)
    assert categories["description"].str.contains("fostering creativity").any()


def test_a_split_joins_arguments_and_labels(tmp_path: Path) -> None:
    path = folder(tmp_path, "A1\tBan X\tin favour of\tit hurts\n", row("A1", 0, 19))
    frame = load_touche(path, "training")
    assert frame.loc[0, "text"] == "Ban X. In favor of: it hurts"
    assert frame.loc[0, "Self-direction: thought"] and frame.loc[0, "Universalism: objectivity"]
    assert not frame.loc[0, "Hedonism"]


def test_broken_files_name_the_file_row_and_column(tmp_path: Path) -> None:
    def split(p: Path) -> object:
        return load_touche(p.parent, "training")

    path = folder(tmp_path, "A1\tBan X\tmaybe\tit hurts\n", row("A1"))
    raises(split, path / "arguments-training.tsv", 2, "Stance", "against")
    path = folder(tmp_path, "A1\tBan X\tagainst\tit hurts\n", row("A1").replace("\t0", "\t2", 1))
    with pytest.raises(StimulusError) as e:
        split(path / "labels-training.tsv")
    assert str(e.value).startswith(f"{path / 'labels-training.tsv'}: row 2, column 'Self-direction: thought'")
    path = folder(tmp_path, "A1\tBan X\tagainst\tit hurts\nA2\tBan Y\tagainst\tno\n", row("A1"))
    with pytest.raises(StimulusError, match=r"'A2'.*has no labels"):
        load_touche(path, "training")
    with pytest.raises(ValueError, match=r"split 'test'"):
        load_touche(path, "test")
    with pytest.raises(FileNotFoundError, match=r"value-categories\.json"):
        touche_categories(path)


def test_value_orientation_keeps_every_inventory(shared_data: Path) -> None:
    items = load_value_orientation(shared_data / "valuebench" / "value_orientation.csv")
    assert len(items) == 1988 and set(items["agreement"]) == {1, -1}
    assert items["questionnaire"].nunique() >= 30 and "PVQ40" in set(items["questionnaire"])


def test_value_orientation_rejects_a_bad_keying(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("questionnaire,item,value,agreement,question\nQ,I like order.,Order,yes,?\n")
    raises(load_value_orientation, path, 2, "agreement", "reverse-keyed")
