"""Mechanisms stimuli: the authored package files meet the design; bad files name file, row and column."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import raises

from valuescope.data.csvfile import StimulusError
from valuescope.data.queries import QUERY_COLUMNS, load_queries
from valuescope.data.valuebench import VALUEBENCH_FILE, load_pvq40
from valuescope.data.values import LABELS, SCHWARTZ_VALUES
from valuescope.studies.mechanisms import stimuli as st

# a query that names a value (or its adjective) would prompt the value it is meant to elicit freely
VALUE_WORDS = re.compile(
    r"self.?direct|stimulat|hedon|achiev|power|secur|conform|tradition|benevol|universal", re.IGNORECASE
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def sentences(text: str) -> int:
    return len(re.findall(r"[.?!](?:\s|$)", text))


# ------------------------------------------------------------------------------------------ package files


def test_queries_are_many_varied_short_and_name_no_value() -> None:
    queries = load_queries()
    assert list(queries.columns) == list(QUERY_COLUMNS)
    assert len(queries) >= 80
    assert queries["query_id"].str.fullmatch(r"q\d{3}").all()
    assert queries["topic"].nunique() >= 15
    assert queries["topic"].value_counts().max() <= 0.1 * len(queries)
    assert queries["query"].is_unique
    assert queries["query"].map(sentences).between(1, 2).all()
    assert not [q for q in queries["query"] if VALUE_WORDS.search(q)]


def test_every_value_has_three_system_prompts_and_three_prefaces() -> None:
    framings = st.load_framings()
    assert list(framings.columns) == list(st.FRAMING_COLUMNS)
    assert framings["paraphrase"].dtype.kind == "i"
    counts = framings.groupby(["value", "style"]).size().unstack()
    assert set(counts.index) == set(SCHWARTZ_VALUES) and set(counts.columns) == set(st.STYLES)
    assert (counts == 3).all().all()
    for _, rows in framings.groupby(["value", "style"]):
        assert sorted(rows["paraphrase"]) == [0, 1, 2]
    assert framings["text"].is_unique
    system = framings[framings["style"] == "system"]["text"]
    preface = framings[framings["style"] == "preface"]["text"]
    assert system.str.contains(r"\byou\b", case=False).all()  # addressed to the assistant
    assert not preface.str.contains(r"\byou\b", case=False).any()  # a narrator's preface
    assert preface.str.contains(r"answer|advice", case=False).all()


def test_each_framing_is_about_its_own_value() -> None:
    """No framing text is a near-copy of another value's framing with the value word swapped."""
    framings = st.load_framings()
    for style in st.STYLES:
        rows = framings[framings["style"] == style]
        for a in rows.itertuples():
            for b in rows.itertuples():
                if a.value != b.value:
                    ratio = difflib.SequenceMatcher(None, a.text, b.text).ratio()
                    assert ratio < 0.95, (a.text, b.text)


def test_six_statements_per_value_two_reverse_keyed() -> None:
    statements = st.load_statements()
    assert list(statements.columns) == [*st.STATEMENT_COLUMNS, "questionnaire"]
    assert statements["reverse"].dtype == bool
    assert (statements["questionnaire"] == "valuescope").all()
    assert (statements.groupby("value").size() == 6).all() and statements["value"].nunique() == 10
    assert (statements.groupby("value")["reverse"].sum() == 2).all()
    assert statements["text"].is_unique
    ids = statements["statement_id"]
    assert (ids == "s-" + statements["value"] + "-" + ids.str.rsplit("-", n=1).str[1]).all()
    assert statements["text"].str.contains(r"\b(?:I|[Mm]y|me|myself)\b").all()  # first person
    assert statements["text"].map(lambda t: len(t.split())).between(6, 18).all()
    assert not [t for t in statements["text"] if any(LABELS[v].lower() in t.lower() for v in SCHWARTZ_VALUES)]


def test_statements_are_not_copied_from_the_pvq40(shared_data: Path) -> None:
    """No statement shares most of its words, in order, with a sentence of a PVQ-40 item."""
    pvq = load_pvq40(shared_data / VALUEBENCH_FILE)
    ours = st.load_statements()
    pvq_sentences = [words(s) for item in pvq["text"] for s in re.split(r"(?<=\.)\s+", item) if s]
    for text in ours["text"]:
        closest = max(difflib.SequenceMatcher(None, words(text), s).ratio() for s in pvq_sentences)
        assert closest < 0.6, text  # measured max 0.50, from shared function words ("I like ... to")


def test_statements_stack_with_the_pvq40(shared_data: Path) -> None:
    both = pd.concat([st.load_statements(), load_pvq40(shared_data / VALUEBENCH_FILE)], ignore_index=True)
    assert both["statement_id"].is_unique and both["reverse"].dtype == bool
    assert set(both["questionnaire"]) == {"valuescope", "PVQ40"}


# -------------------------------------------------------------------------------------- bad user files


def write(tmp_path: Path, text: str, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def framings_csv(skip: tuple[str, str] | None = None, value_spelling: Callable[[str], str] = str) -> str:
    lines = ["value,style,paraphrase,text"]
    for value in SCHWARTZ_VALUES:
        for style in st.STYLES:
            if (value, style) != skip:
                lines.append(f"{value_spelling(value)},{style},0,A {style} framing about {value}.")
    return "\n".join(lines) + "\n"


def statements_csv(extra: str = "") -> str:
    lines = ["statement_id,value,reverse,text"]
    lines += [f"s-{v},{v},0,I care about {v}." for v in SCHWARTZ_VALUES]
    return "\n".join(lines) + "\n" + extra


def test_a_user_file_of_the_same_schema_replaces_the_package_file(tmp_path: Path) -> None:
    queries = load_queries(write(tmp_path, "query_id,topic,query,note\nx1,pets,Should I get a cat?,mine\n"))
    assert queries.to_dict("records") == [
        {"query_id": "x1", "topic": "pets", "query": "Should I get a cat?", "note": "mine"}
    ]
    framings = st.load_framings(write(tmp_path, framings_csv(value_spelling=lambda v: LABELS[v]), "f.csv"))
    assert set(framings["value"]) == set(SCHWARTZ_VALUES) and len(framings) == 20
    statements = st.load_statements(
        write(tmp_path, statements_csv("x,Self_Direction,TRUE,I pick my own way.\ny,POWER,False,I lead.\n"))
    )
    assert len(statements) == 12
    assert statements.set_index("statement_id")["reverse"].to_dict()["x"] is True
    assert statements.set_index("statement_id").loc[["x", "y"], "value"].tolist() == [
        "self_direction",
        "power",
    ]


def test_bad_query_files_name_file_row_and_column(tmp_path: Path) -> None:
    header = "query_id,topic,query\n"
    raises(load_queries, write(tmp_path, "query_id,query\nq1,Hello?\n"), 1, "topic", "missing columns topic")
    raises(
        load_queries,
        write(tmp_path, header + "q1,pets,Cat?\nq1,pets,Dog?\n"),
        3,
        "query_id",
        "repeats row 2",
    )
    raises(load_queries, write(tmp_path, header + "q1,pets,Cat?\n\nq2,,Dog?\n"), 4, "topic", "empty")
    raises(
        load_queries, write(tmp_path, header + "q1,pets,Cat?\nq2,home,Cat?\n"), 3, "query", "repeats row 2"
    )
    raises(load_queries, write(tmp_path, header + "q1,pets,Cat, or dog?\n"), 2, "query", "quote cells")


def test_bad_framing_files_name_file_row_and_column(tmp_path: Path) -> None:
    good = framings_csv()
    raises(
        st.load_framings, write(tmp_path, good + "kindness,system,1,Be kind.\n"), 22, "value", "'kindness'"
    )
    raises(
        st.load_framings,
        write(tmp_path, good + "power,chat,1,Rule.\n"),
        22,
        "style",
        "not one of system, preface",
    )
    raises(st.load_framings, write(tmp_path, good + "power,system,one,Rule.\n"), 22, "paraphrase", "'one'")
    raises(
        st.load_framings, write(tmp_path, good + "Power,system,0,Rule.\n"), 22, "paraphrase", "repeats row 10"
    )
    with pytest.raises(StimulusError) as e:
        st.load_framings(path := write(tmp_path, framings_csv(skip=("tradition", "preface"))))
    assert str(e.value).startswith(f"{path}: column 'value'")
    assert "'tradition'" in str(e.value) and "'preface'" in str(e.value)


def test_bad_statement_files_name_file_row_and_column(tmp_path: Path) -> None:
    good = statements_csv()
    raises(
        st.load_statements, write(tmp_path, good + "x,power,yes,I lead.\n"), 12, "reverse", "'yes'", "0, 1"
    )
    raises(
        st.load_statements, write(tmp_path, good + "s-power,power,0,I lead.\n"), 12, "statement_id", "repeats"
    )
    raises(
        st.load_statements,
        write(tmp_path, good + "x,Openness_to_Change,0,New.\n"),
        12,
        "value",
        "higher-order",
    )
    with pytest.raises(StimulusError) as e:
        st.load_statements(path := write(tmp_path, "\n".join(good.splitlines()[:-1]) + "\n"))
    assert str(e.value).startswith(f"{path}: column 'value'") and "'universalism'" in str(e.value)
    with pytest.raises(StimulusError, match="row 1: the file is empty"):
        st.load_statements(write(tmp_path, "\n\n"))
