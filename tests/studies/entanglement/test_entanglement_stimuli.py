"""Entanglement stimuli: the authored package files meet the design; bad files name file, row and column."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from valuescope.studies.entanglement import stimuli as st
from valuescope.studies.entanglement.stimuli import StimulusError

STOP = {
    "the",
    "a",
    "an",
    "to",
    "of",
    "and",
    "in",
    "on",
    "for",
    "his",
    "her",
    "their",
    "its",
    "with",
    "who",
    "that",
    "from",
    "have",
    "were",
    "when",
}


def words(text: str) -> list[str]:
    return text.split()


def content(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if len(w) > 3 and w not in STOP}


# ------------------------------------------------------------------------------------------ package files


def test_package_files_load_and_meet_the_counts() -> None:
    grammar, economic, moral = st.load_grammar(), st.load_economic(), st.load_moral()
    for df, versions in ((grammar, st.GRAMMAR_VERSIONS), (economic, st.ECONOMIC_VERSIONS)):
        assert df["frame"].nunique() >= 30
        assert df["base"].nunique() >= 120 and len(df) >= 240
        assert set(df["version"]) == set(versions)
        per_frame = df.drop_duplicates("base").groupby("frame")["valence"].value_counts().unstack()
        assert (per_frame["good"] == 2).all() and (per_frame["bad"] == 2).all()
    assert len(moral) >= 80 and (moral["valence"].value_counts() >= 40).all()
    assert list(grammar.columns) == list(st.GRAMMAR_COLUMNS)
    assert list(economic.columns) == list(st.ECONOMIC_COLUMNS)
    assert list(moral.columns) == list(st.MORAL_COLUMNS)


def test_moral_only_items_are_disjoint_from_the_domain_files() -> None:
    grammar, economic, moral = st.load_grammar(), st.load_economic(), st.load_moral()
    domain = pd.concat([grammar, economic])
    assert not set(moral["frame"]) & set(domain["frame"])
    assert all(f.startswith("m") for f in moral["frame"])
    assert not set(moral["text"]) & set(domain["text"])
    assert not set(moral["item_id"]) & set(domain["item_id"])
    # different scenes: no moral item shares more than two content words with any domain sentence
    others = [content(t) for t in domain["text"]]
    for text in moral["text"]:
        assert max(len(content(text) & o) for o in others) <= 2, text
    lengths = moral["text"].map(lambda t: len(words(t)))
    assert lengths.between(6, 14).all()


def test_grammar_errors_are_varied_single_and_matched() -> None:
    grammar = st.load_grammar()
    wrong = grammar[grammar["version"] == "ungrammatical"]
    counts = wrong["error_type"].value_counts()
    assert set(counts.index) == set(st.ERROR_TYPES) and counts.min() >= 4
    ok = grammar[grammar["version"] == "grammatical"].set_index("base")
    assert ok["text"].map(lambda t: len(words(t))).between(6, 16).all()
    n = ok.assign(n=ok["text"].map(lambda t: len(words(t)))).pivot(
        index="pair", columns="valence", values="n"
    )
    assert (n["good"] - n["bad"]).abs().max() <= 3
    for _, row in wrong.iterrows():
        a, b = words(ok.loc[row["base"], "text"]), words(row["text"])
        edits = [op for op in difflib.SequenceMatcher(a=a, b=b).get_opcodes() if op[0] != "equal"]
        assert a != b and len(edits) <= 2, row["text"]  # one error: one edit (a swap reads as two)
        assert max(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in edits) <= 3, row["text"]
    assert (wrong.groupby("pair")["error_type"].nunique() == 1).all()


def test_deals_are_the_same_across_a_moral_pair() -> None:
    economic = st.load_economic()
    numbers = economic.assign(numbers=economic["text"].map(lambda t: tuple(re.findall(r"[\d,.%$]*\d", t))))
    for _, rows in numbers.groupby(["pair", "version"]):
        assert rows["numbers"].nunique() == 1, rows["text"].tolist()
    for _, rows in numbers.groupby("base"):
        assert rows["numbers"].nunique() == 2  # good and bad deal differ in the numbers


# ------------------------------------------------------------------------------------------ bad files

Edit = Callable[[pd.DataFrame], pd.DataFrame]


def _set(df: pd.DataFrame, index: int, **values: str) -> pd.DataFrame:
    out = df.copy()
    for column, value in values.items():
        out.loc[index, column] = value
    return out


def _write(tmp_path: Path, df: pd.DataFrame, name: str = "mine.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# rows 0-7 of the package grammar file: f01-p1-good ok/err, f01-p1-bad ok/err, f01-p2-good ok/err, ...
GRAMMAR_CASES: list[tuple[str, Edit, list[str]]] = [
    ("missing column", lambda d: d.drop(columns=["error_type"]),
     ["row 1 (header)", "missing columns error_type"]),
    ("empty text", lambda d: _set(d, 5, text="  "), ["row 7, column 'text': empty"]),
    ("duplicate id", lambda d: _set(d, 3, item_id=d["item_id"][0]),
     ["row 5, column 'item_id'", "repeats row 2"]),
    ("unknown valence", lambda d: _set(d, 2, valence="evil"),
     ["row 4, column 'valence'", "'evil' is not one of"]),
    ("unknown version", lambda d: _set(d, 4, version="fine"),
     ["row 6, column 'version'", "'fine' is not one of"]),
    ("unknown error", lambda d: _set(d, 3, error_type="typo"),
     ["row 5, column 'error_type'", "'typo' is not one of"]),
    ("error on grammatical", lambda d: _set(d, 2, error_type="tense"),
     ["row 4, column 'error_type'", "needs error_type none"]),
    ("none on ungrammatical", lambda d: _set(d, 3, error_type="none"),
     ["row 5, column 'error_type'", "ungrammatical row needs an error type"]),
    ("base missing a version", lambda d: d.drop(index=2),
     ["row 4, column 'base'", "has versions ungrammatical"]),
    ("base twice grammatical", lambda d: _set(d, 1, version="grammatical", error_type="none"),
     ["row 2, column 'base'", "exactly one row per version"]),
    ("valence split within base", lambda d: _set(d, 1, valence="bad"), ["row 3, column 'valence'", "base"]),
    ("pair of two good bases", lambda d: _set(_set(d, 2, valence="good"), 3, valence="good"),
     ["row 2, column 'pair'", "needs exactly one good and one bad base"]),
    ("pair error mismatch", lambda d: _set(d, 3, error_type="tense"),
     ["row 5, column 'error_type'", "'tense' differs from its pair partner's 'word_order' (row 3)"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "fragments"), [c[1:] for c in GRAMMAR_CASES], ids=[c[0] for c in GRAMMAR_CASES]
)
def test_bad_grammar_files_name_file_row_and_column(tmp_path: Path, edit: Edit, fragments: list[str]) -> None:
    head = st.load_grammar().head(16)
    assert st.load_grammar(_write(tmp_path, head, "clean.csv")).equals(head)
    path = _write(tmp_path, edit(head))
    with pytest.raises(StimulusError) as info:
        st.load_grammar(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_bad_economic_and_moral_files(tmp_path: Path) -> None:
    economic = st.load_economic().head(8)
    cases: list[tuple[pd.DataFrame, list[str]]] = [
        (_set(economic, 1, version="grammatical"), ["row 3, column 'version'", "good_deal, bad_deal"]),
        (_set(economic, 1, version="good_deal"), ["row 2, column 'base'", "good_deal, good_deal"]),
        (
            _set(_set(economic, 0, valence="bad"), 1, valence="bad"),
            ["row 2, column 'pair'", "one good and one bad"],
        ),
    ]
    for df, fragments in cases:
        with pytest.raises(StimulusError) as info:
            st.load_economic(_write(tmp_path, df))
        assert all(f in str(info.value) for f in fragments), str(info.value)
    moral = st.load_moral().head(8)
    with pytest.raises(StimulusError, match=r"row 4, column 'pair'.*one good and one bad item"):
        st.load_moral(_write(tmp_path, _set(moral, 3, valence="good")))
    with pytest.raises(StimulusError, match=r"row 1 \(header\).*missing columns pair"):
        st.load_moral(_write(tmp_path, moral.drop(columns=["pair"])))


def test_unbalanced_frame_is_named() -> None:
    # the pair checks imply balanced frames, so the frame check is exercised directly
    df = st.load_moral().head(4).assign(_line=[2, 3, 4, 5])
    df.loc[3, "valence"] = "good"
    with pytest.raises(
        StimulusError, match=r"x.csv: row 2, column 'frame': frame 'm01' is unbalanced \(3 good"
    ):
        st._check_frames("x.csv", df)


def test_row_numbers_are_csv_lines(tmp_path: Path) -> None:
    head = st.load_grammar().head(8)
    head.loc[0, "text"] = 'She said "yes, gladly" to the child.'
    lines = _write(tmp_path, head).read_text().splitlines()
    lines.insert(3, "")  # a blank line after the third CSV line
    path = tmp_path / "blank.csv"
    path.write_text("\n".join(lines) + "\n")
    assert st.load_grammar(path)["text"][0] == head["text"][0]
    lines[5] = lines[5].replace(",bad,", ",meh,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StimulusError, match="row 6, column 'valence'"):
        st.load_grammar(path)


# ------------------------------------------------------------------------------------------ human ratings


def test_human_ratings(tmp_path: Path) -> None:
    grammar = st.load_grammar().head(8)
    path = tmp_path / "human.csv"
    rows = ["item_id,grammatical,moral"] + [
        f"{i},{6 - k % 2},{3 + k % 2}" for k, i in enumerate(grammar["item_id"])
    ]
    path.write_text("\n".join([*rows, "g-unknown,5,"]) + "\n")
    ratings = st.load_human_ratings(path)
    assert list(ratings.columns) == ["item_id", "grammatical", "moral"]
    assert ratings["grammatical"].dtype == float and ratings["moral"].isna().sum() == 1
    st.check_human_ratings(ratings, grammar, "grammatical")
    with pytest.raises(StimulusError, match=r"row 10, column 'item_id': 'g-unknown' is not a stimulus item"):
        st.check_human_ratings(ratings, grammar, exhaustive=True)
    with pytest.raises(StimulusError, match=r"column 'economic': missing"):
        st.check_human_ratings(ratings, grammar, "economic")
    with pytest.raises(StimulusError, match="8 stimulus items lack a rating"):
        st.check_human_ratings(ratings.iloc[8:], grammar)

    path.write_text("\n".join([*rows[:3], f"{grammar['item_id'][2]},high,4"]) + "\n")
    with pytest.raises(
        StimulusError, match=r"human.csv: row 4, column 'grammatical': 'high' is not a number"
    ):
        st.load_human_ratings(path)
    path.write_text("\n".join([*rows[:3], rows[1]]) + "\n")
    with pytest.raises(StimulusError, match=r"row 4, column 'item_id': .* repeats row 2"):
        st.load_human_ratings(path)
    path.write_text("item_id,score\nx,1\n")
    with pytest.raises(StimulusError, match=r"row 1 \(header\).*one or more of grammatical, economic, moral"):
        st.load_human_ratings(path)
