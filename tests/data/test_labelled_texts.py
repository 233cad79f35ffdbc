"""A user's own labelled texts: the schema, label spellings and the errors that name the row."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuescope.data.csvfile import StimulusError
from valuescope.data.labelled_texts import load_labelled_texts


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(body)
    return path


def test_labels_values_groups_and_context_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "text,value,label,group\nA,Self Direction,yes,u1\nB,self-direction,-1,u2\n")
    rows = load_labelled_texts(path, schwartz=True)
    assert rows["value"].tolist() == ["self_direction", "self_direction"]
    assert rows["label"].tolist() == [True, False] and rows["group"].tolist() == ["u1", "u2"]
    assert rows["context"].tolist() == ["A", "B"]  # no context column: the text is its own
    free = load_labelled_texts(write(tmp_path, "text,value,label\nA,being thrifty,1\nB,being thrifty,0\n"),
                               schwartz=False)  # fmt: skip
    assert free["value"].tolist() == ["being thrifty"] * 2 and free["group"].tolist() == ["2", "3"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("text,value\nA,power\n", "missing columns label"),
        ("text,value,label\nA,power,maybe\n", r"row 2, column 'label': 'maybe' is not a label"),
        ("text,value,label\nA,kindness,1\nB,kindness,0\n", "row 2, column 'value'"),
        ("text,value,label\nA,power,1\nB,power,1\n", "value 'power' has no negative row"),
    ],
)
def test_bad_files_name_the_row_and_column(tmp_path: Path, body: str, fragment: str) -> None:
    with pytest.raises(StimulusError, match=fragment):
        load_labelled_texts(write(tmp_path, body), schwartz=True)
