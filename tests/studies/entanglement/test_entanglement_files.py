"""The entanglement stimuli: the package files meet the design, and bad user files are named precisely."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from valuescope.studies.entanglement.stimuli import StimulusError, load_economic, load_grammar, load_moral


def test_package_files_meet_the_design() -> None:
    grammar, economic, moral = load_grammar(), load_economic(), load_moral()
    for df in (grammar, economic):
        assert df["frame"].nunique() >= 30 and df["base"].nunique() >= 120
        assert (df.drop_duplicates("base")["valence"].value_counts() == df["base"].nunique() // 2).all()
    assert len(moral) >= 80 and set(moral["valence"]) == {"good", "bad"}
    assert not set(moral["text"]) & (set(grammar["text"]) | set(economic["text"]))
    errors = grammar.loc[grammar["version"] == "ungrammatical", "error_type"].value_counts()
    assert len(errors) >= 5 and errors.min() >= 4
    ok = grammar[grammar["version"] == "grammatical"]
    lengths = ok.assign(n=ok["text"].str.split().str.len()).pivot(index="pair", columns="valence", values="n")
    assert (lengths["good"] - lengths["bad"]).abs().max() <= 3, "pairs are matched in length"


def test_deal_versions_differ_only_in_the_numbers() -> None:
    economic = load_economic()
    for _, rows in economic.groupby("base"):
        good, bad = rows.set_index("version").loc[["good_deal", "bad_deal"], "text"]
        strip = [w for w in good.split() if not any(c.isdigit() for c in w)]
        assert strip == [w for w in bad.split() if not any(c.isdigit() for c in w)]


def write(tmp_path: Path, df: pd.DataFrame) -> Path:
    path = tmp_path / "mine.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.drop(columns=["error_type"]), "missing columns error_type"),
        (lambda d: d.assign(valence=d["valence"].where(d.index != 3, "meh")), "row 5, column 'valence'"),
        (
            lambda d: d.assign(item_id=d["item_id"].where(d.index != 2, d["item_id"][0])),
            "row 4, column 'item_id'",
        ),
        (lambda d: d.assign(text=d["text"].where(d.index != 6, "")), "row 8, column 'text': empty"),
        (lambda d: d.assign(version=d["version"].where(d.index != 1, "sloppy")), "column 'version'"),
        (lambda d: d.iloc[1:], "column 'base'"),
        (lambda d: d.assign(error_type=d["error_type"].where(d.index != 0, "agreement")), "error_type none"),
        (
            lambda d: d.assign(error_type=d["error_type"].where(d.index != 1, "spelling")),
            "'spelling' is not one of",
        ),
    ],
)
def test_bad_user_files_name_file_row_and_column(tmp_path: Path, edit, fragment: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, edit(load_grammar().head(16).copy()))
    with pytest.raises(StimulusError) as info:
        load_grammar(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_unbalanced_pairs_are_refused(tmp_path: Path) -> None:
    moral = load_moral().head(6).copy()
    moral.loc[1, "valence"] = "good"
    with pytest.raises(StimulusError, match="needs exactly one good and one bad"):
        load_moral(write(tmp_path, moral))
