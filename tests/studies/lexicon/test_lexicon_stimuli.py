"""Value-lexicon stimuli: the authored package files meet the design; bad files name file, row and column."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import raises

from valuescope.data import valuelex
from valuescope.data.csvfile import StimulusError
from valuescope.studies.lexicon import stimuli as lx

# a stem that names one of these would lead the completion to the value it is meant to probe
VALUE_WORDS = re.compile(
    r"\b(?:competen\w*|helpful\w*|friendl\w*|fair(?:ness|ly)?|unfair\w*|reliab\w*|honest\w*|ethic\w*|"
    r"empath\w*|responsib\w*|professional\w*|idealis\w*|accura\w*|respectful\w*|integrity|justice|kindness)\b",
    re.IGNORECASE,
)
FIRST_PERSON = re.compile(r"\b(?:I|[Mm]e|[Mm]y|[Mm]ine|[Mm]yself)\b")


# ------------------------------------------------------------------------------------------ taxonomy


def test_the_taxonomy_is_three_dimensions_of_two_subdimensions() -> None:
    assert valuelex.SUBDIMENSIONS == (
        "self_competent",
        "user_oriented",
        "social",
        "idealistic",
        "professional",
        "ethical",
    )
    assert [sub for subs in valuelex.DIMENSIONS.values() for sub in subs] == list(valuelex.SUBDIMENSIONS)
    assert (
        valuelex.DIMENSION_OF["user_oriented"] == "competence"
        and valuelex.DIMENSION_OF["ethical"] == "integrity"
    )


def test_completion_prefix_drops_the_ellipsis_only() -> None:
    assert lx.completion_prefix("When a task has a deadline, I ...") == "When a task has a deadline, I"
    assert (
        lx.completion_prefix("I think the world would be better if…")
        == "I think the world would be better if"
    )
    assert lx.completion_prefix("Among other people I try to") == "Among other people I try to"


# ------------------------------------------------------------------------------------------ package files


def test_elicitation_prompts_are_many_varied_and_ask_for_a_short_list() -> None:
    prompts = lx.load_elicitation()
    assert list(prompts.columns) == list(lx.ELICITATION_COLUMNS)
    assert len(prompts) >= 14
    assert prompts["prompt_id"].str.fullmatch(r"e\d{2}").all()
    assert prompts["framing"].is_unique  # every prompt takes its own angle
    assert prompts["prompt"].str.contains(r"\bcomma", case=False).all()
    assert prompts["prompt"].str.contains(r"\byou(?:r|rself)?\b", case=False).sum() >= len(prompts) - 2
    # the base-model form opens a first-person sentence the model continues with the list
    completions = prompts["completion"]
    assert completions.str.endswith(":").all()
    assert completions.str.contains(FIRST_PERSON).all()
    assert not completions.str.contains(r"\?|\byou\b").any()


def test_stems_are_eight_or_more_first_person_open_sentences_per_subdimension() -> None:
    stems = lx.load_stems()
    assert list(stems.columns) == list(lx.STEM_COLUMNS)
    counts = stems["subdimension"].value_counts()
    assert set(counts.index) == set(valuelex.SUBDIMENSIONS) and (counts >= 8).all()
    assert len(stems) >= 48
    assert (stems["stem_id"].str.rsplit("-", n=1).str[0] == stems["subdimension"]).all()
    assert stems["stem"].is_unique
    assert stems["stem"].str.endswith(" ...").all()
    assert stems["stem"].str.contains(FIRST_PERSON).all()
    assert not [s for s in stems["stem"] if VALUE_WORDS.search(s)]
    assert stems["stem"].map(lambda s: len(s.split())).between(4, 16).all()


def test_no_stem_is_a_near_copy_of_another() -> None:
    texts = list(lx.load_stems()["stem"])
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            assert difflib.SequenceMatcher(None, a, b).ratio() < 0.85, (a, b)


def test_three_first_person_anchor_descriptions_per_subdimension() -> None:
    anchors = lx.load_anchors()
    assert list(anchors.columns) == list(lx.ANCHOR_COLUMNS)
    assert (anchors.groupby("subdimension").size() == 3).all() and anchors["subdimension"].nunique() == 6
    assert anchors["description"].is_unique
    assert anchors["description"].str.contains(FIRST_PERSON).all()


def test_validation_set_is_balanced_and_completes_package_stems_of_its_subdimension() -> None:
    validation = lx.load_validation()
    assert list(validation.columns) == list(lx.VALIDATION_COLUMNS)
    assert validation["label"].dtype.kind == "i" and set(validation["label"]) == {0, 1}
    per = validation.groupby("subdimension")["label"].agg(["size", "sum"])
    assert set(per.index) == set(valuelex.SUBDIMENSIONS)
    assert (per["size"] >= 8).all() and (per["sum"] * 2 == per["size"]).all()
    stems = lx.load_stems().set_index("stem_id")["subdimension"]
    assert validation["stem_id"].isin(stems.index).all()
    assert (validation["stem_id"].map(stems) == validation["subdimension"]).all()
    assert validation["completion"].is_unique
    # a completion continues its stem: it starts in lower case, not with a repeat of the stem
    assert validation["completion"].str.match(r"[a-z]").all()


def test_validation_positives_share_more_words_with_their_anchors_than_negatives() -> None:
    """A crude check of the labels: bag-of-words overlap with the anchors, by label, per dimension."""
    anchors = lx.load_anchors()
    validation = lx.load_validation()

    def words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}

    vocab = {
        sub: set().union(*map(words, rows["description"])) for sub, rows in anchors.groupby("subdimension")
    }
    validation["overlap"] = [
        len(words(c) & vocab[s])
        for c, s in zip(validation["completion"], validation["subdimension"], strict=True)
    ]
    means = validation.groupby("label")["overlap"].mean()
    assert means[1] > means[0]


# -------------------------------------------------------------------------------------- user files


def write(tmp_path: Path, text: str, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def every_subdimension(row: Callable[[int, str], str], header: str) -> str:
    return header + "\n" + "\n".join(row(i, sub) for i, sub in enumerate(valuelex.SUBDIMENSIONS)) + "\n"


def stems_csv() -> str:
    return every_subdimension(lambda i, s: f"s{i},{s},Stem number {i} I ...", "stem_id,subdimension,stem")


def anchors_csv() -> str:
    return every_subdimension(lambda i, s: f"{s},I do thing {i}.", "subdimension,description")


def validation_csv(extra: str = "") -> str:
    return "stem_id,subdimension,completion,label\ns0,ethical,refuse.,1\ns1,social,stop.,0\n" + extra


def test_user_files_of_the_same_schema_replace_the_package_files(tmp_path: Path) -> None:
    prompts = lx.load_elicitation(
        write(tmp_path, "prompt_id,framing,prompt,completion,note\np,x,Name values?,My values are:,mine\n")
    )
    assert prompts.to_dict("records") == [
        {
            "prompt_id": "p",
            "framing": "x",
            "prompt": "Name values?",
            "completion": "My values are:",
            "note": "mine",
        }
    ]
    text = (
        stems_csv()
        .replace(",self_competent,", ",Self-Competent,")
        .replace(",user_oriented,", ",USER oriented,")
    )
    stems = lx.load_stems(write(tmp_path, text, "stems.csv"))
    assert list(stems["subdimension"]) == list(valuelex.SUBDIMENSIONS)
    assert len(lx.load_anchors(write(tmp_path, anchors_csv(), "anchors.csv"))) == 6
    validation = lx.load_validation(write(tmp_path, validation_csv(), "v.csv"))
    assert validation["label"].tolist() == [1, 0] and validation["label"].dtype.kind == "i"


def test_validation_labels_may_come_as_json(tmp_path: Path) -> None:
    records = [
        {"stem_id": "s0", "subdimension": "Ethical", "completion": " refuse. ", "label": 1, "rater": "ann"},
        {"stem_id": 7, "subdimension": "social", "completion": "stop.", "label": "0"},
    ]
    validation = lx.load_validation(write(tmp_path, json.dumps(records), "labels.json"))
    assert list(validation.columns) == [*lx.VALIDATION_COLUMNS, "rater"]
    assert validation[list(lx.VALIDATION_COLUMNS)].to_dict("records") == [
        {"stem_id": "s0", "subdimension": "ethical", "completion": "refuse.", "label": 1},
        {"stem_id": "7", "subdimension": "social", "completion": "stop.", "label": 0},
    ]
    csv = lx.load_validation(write(tmp_path, validation_csv(), "v.csv"))
    assert csv["label"].tolist() == validation["label"].tolist()


def test_an_unknown_subdimension_names_the_file_row_column_and_the_six(tmp_path: Path) -> None:
    message = raises(
        lx.load_stems, write(tmp_path, stems_csv() + "x,kindness,Another stem I ...\n"), 8, "subdimension"
    )
    assert "'kindness'" in message and all(sub in message for sub in valuelex.SUBDIMENSIONS)
    raises(
        lx.load_anchors, write(tmp_path, anchors_csv() + "competence,I know.\n"), 8, "subdimension", "ethical"
    )
    raises(
        lx.load_validation, write(tmp_path, validation_csv("s2,moral,go.,1\n")), 4, "subdimension", "'moral'"
    )


def test_bad_stem_and_anchor_files_name_file_row_and_column(tmp_path: Path) -> None:
    good = stems_csv()
    raises(lx.load_stems, write(tmp_path, good + "s0,social,New stem I ...\n"), 8, "stem_id", "repeats row 2")
    raises(
        lx.load_stems, write(tmp_path, good + "s9,social,Stem number 1 I ...\n"), 8, "stem", "repeats row 3"
    )
    raises(lx.load_stems, write(tmp_path, good + "s9,social,\n"), 8, "stem", "empty")
    raises(lx.load_stems, write(tmp_path, "stem_id,stem\ns,I ...\n"), 1, "subdimension", "missing columns")
    with pytest.raises(StimulusError) as e:
        lx.load_stems(path := write(tmp_path, "\n".join(good.splitlines()[:-1]) + "\n"))
    assert str(e.value).startswith(f"{path}: column 'subdimension'") and "'ethical'" in str(e.value)
    raises(
        lx.load_anchors,
        write(tmp_path, anchors_csv() + "social,I do thing 0.\n"),
        8,
        "description",
        "repeats",
    )
    raises(
        lx.load_elicitation,
        write(tmp_path, "prompt_id,framing,prompt,completion\na,x,Q?,A:\nb,y,Q?,B:\n"),
        3,
        "prompt",
        "repeats row 2",
    )


def test_bad_validation_files_name_file_row_and_column(tmp_path: Path) -> None:
    raises(
        lx.load_validation, write(tmp_path, validation_csv("s2,social,go.,2\n")), 4, "label", "'2'", "0 or 1"
    )
    raises(lx.load_validation, write(tmp_path, validation_csv("s2,social,go.,yes\n")), 4, "label", "'yes'")
    raises(
        lx.load_validation,
        write(tmp_path, validation_csv("s0,ethical,refuse.,0\n")),
        4,
        "completion",
        "repeats",
    )
    raises(lx.load_validation, write(tmp_path, validation_csv("s2,social,,1\n")), 4, "completion", "empty")


def test_bad_json_labels_name_file_object_and_key(tmp_path: Path) -> None:
    def dump(obj: object) -> Path:
        return write(tmp_path, json.dumps(obj), "labels.json")

    ok = {"stem_id": "s", "subdimension": "social", "completion": "c", "label": 1}
    raises(
        lx.load_validation, dump([ok, {**ok, "label": True}]), 2, "label", "not a string or a whole number"
    )
    raises(lx.load_validation, dump([ok, {**ok, "label": 0.5}]), 2, "label")
    missing = {k: v for k, v in ok.items() if k != "subdimension"}
    raises(lx.load_validation, dump([missing]), 1, "subdimension", "missing", "stem_id, subdimension")
    raises(lx.load_validation, dump([{**ok, "completion": "  "}]), 1, "completion", "empty")
    raises(lx.load_validation, dump([ok, {**ok, "subdimension": "loyal"}]), 2, "subdimension", "'loyal'")
    with pytest.raises(StimulusError, match=r"labels\.json: the file holds a JSON dict, not a list"):
        lx.load_validation(dump(ok))
    with pytest.raises(StimulusError, match=r"labels\.json: row 2: a JSON list, not an object"):
        lx.load_validation(dump([ok, [1]]))
    with pytest.raises(StimulusError, match=r"labels\.json: line 1: not valid JSON"):
        lx.load_validation(write(tmp_path, "[{", "labels.json"))


# ------------------------------------------------------------------------------- base-model framing


def test_base_prompt_shows_the_list_format_without_naming_a_value() -> None:
    from valuescope.studies.lexicon import terms

    prompt = lx.base_prompt("The ideals I try to live up to are:")
    assert prompt.startswith(lx.LIST_PRIMER) and prompt.endswith("live up to are:")
    primer_terms = terms.extract_terms([lx.LIST_PRIMER])["term"].tolist()
    anchor_words = {w.lower() for d in lx.load_anchors()["description"] for w in d.replace(",", " ").split()}
    assert primer_terms and not set(primer_terms) & anchor_words


@pytest.mark.parametrize(
    ("continuation", "answer"),
    [
        (" honesty, kindness and care.\nThe qualities I admire most are: ...", "honesty, kindness and care."),
        ("\n\n1. Beauty\n2. Truth\n3. Care\nIf I only lived like you", "1. Beauty\n2. Truth\n3. Care"),
        ("\n- honesty\n- integrity\n\nMore text", "- honesty\n- integrity"),
        (" Favourite books: Dune, Emma.\nhonesty", ""),
        ("\n\n", ""),
        ("", ""),
    ],
)
def test_answer_span_keeps_the_first_line_or_the_opening_list(continuation: str, answer: str) -> None:
    assert lx.answer_span(continuation) == answer


def test_the_filter_keeps_the_taxonomy_own_descriptors() -> None:
    """The filter only drops non-terms: ValueLex's own descriptors pass it (it cannot favour them either,
    since it holds no allow-list), so the study can find the taxonomy or fail to, but not be steered."""
    from valuescope.studies.lexicon.term_filter import is_value_term

    descriptors = [s.replace("_", "-") for s in valuelex.SUBDIMENSIONS] + [
        "competent",
        "knowledgeable",
        "accurate",
        "helpful",
        "responsive",
        "friendly",
        "empathetic",
        "cooperative",
        "justice",
        "fair",
        "open-minded",
        "dependable",
        "diligent",
        "responsible",
        "honest",
        "harmless",
        "trustworthy",
        "privacy",
    ]
    assert [d for d in descriptors if not is_value_term(d)] == []


def test_external_labels_are_read_from_csv_or_json_with_full_stems(tmp_path: Path) -> None:
    rows = [
        {
            "stem": "When I help someone, I ...",
            "completion": "listen first",
            "subdimension": "Social",
            "label": 1,
        },
        {"stem": "When I help someone, I ...", "completion": "hurry", "subdimension": "social", "label": "0"},
    ]
    (tmp_path / "l.json").write_text(json.dumps(rows))
    pd_rows = lx.load_labels(tmp_path / "l.json")
    assert pd_rows["subdimension"].tolist() == ["social", "social"] and pd_rows["label"].tolist() == [1, 0]
    (tmp_path / "l.csv").write_text("stem,completion,subdimension,label\nI ...,care,ethical,yes\n")
    with pytest.raises(StimulusError, match=r"l\.csv: row 2.*label.*'yes' is not 0 or 1"):
        lx.load_labels(tmp_path / "l.csv")
    (tmp_path / "m.csv").write_text("stem_id,completion,subdimension,label\ns1,care,ethical,1\n")
    with pytest.raises(StimulusError, match="missing columns stem"):
        lx.load_labels(tmp_path / "m.csv")
