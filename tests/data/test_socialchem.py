"""Social-Chem-101 loader on an authored TSV with the real header: every drop reason, merging, the vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuescope.data.csvfile import StimulusError
from valuescope.data.moral_items import ITEM_COLUMNS, VECTOR_COLUMNS
from valuescope.data.socialchem import load_social_chem

HEADER = [
    "area", "m", "split", "rot-agree", "rot-categorization", "rot-moral-foundations", "rot-char-targeting",
    "rot-bad", "rot-judgment", "action", "action-agency", "action-moral-judgment", "action-agree",
    "action-legal", "action-pressure", "action-char-involved", "action-hypothetical", "situation",
    "situation-short-id", "rot", "rot-id", "rot-worker-id", "breakdown-worker-id", "n-characters",
    "characters",
]  # fmt: skip

# (action, action-moral-judgment, action-agree, rot-moral-foundations, rot-bad); file line = index + 2
ROWS = [
    ("helping a stranger carry groceries", "2.0", "4.0", "care-harm", "0"),  # 2 virtue
    ("stealing from your employer", "-1.0", "3.0", "fairness-cheating", "0"),  # 3 vice
    ("eating cereal for dinner", "0.0", "4.0", "care-harm", "0"),  # 4 zero judgment
    (
        "lying to your parents about where you were",
        "-2.0",
        "2.0",
        "authority-subversion|loyalty-betrayal",
        "0",
    ),
    ("protesting a curfew", "1.0", "3.0", "liberty-oppression", "0"),  # 6 unknown foundation
    ("wearing socks with sandals", "-1.0", "3.0", "", "0"),  # 7 no foundation
    ("skipping a friend's party", "-1.0", "1.0", "loyalty-betrayal", "0"),  # 8 low agreement
    ("returning a lost wallet", "good", "4.0", "fairness-cheating", "0"),  # 9 non-numeric judgment
    ("cutting in line", "", "3.0", "fairness-cheating", "0"),  # 10 empty judgment
    ('Saying "no" to a friend\'s  unfair request', "1.0", "2.0", "care-harm", "0"),  # 11 duplicate ...
    ('saying "no" to a friend\'s unfair request', "2.0", "4.0", "fairness-cheating", "0"),  # 12 ... agreeing
    ("telling your friend the truth about her partner", "1.0", "3.0", "loyalty-betrayal", "0"),  # 13 ...
    (
        "telling your friend the truth about her partner",
        "-1.0",
        "3.0",
        "loyalty-betrayal",
        "0",
    ),  # 14 conflict
    ("ignoring your kids", "-2.0", "4.0", "care-harm", "1"),  # 15 rot-bad
    ("spitting in someone's food", "-2.0", "3.0", "sanctity-degradation", "0"),  # 16 sanctity vice
    ("bragging about a promotion", "-1.0", "lots", "care-harm", "0"),  # 17 unparseable agreement
]


def _row(action: str, judgment: str, agree: str, foundations: str, bad: str, line: int) -> str:
    cells = dict.fromkeys(HEADER, "")
    cells.update(
        {
            "area": "amitheasshole",
            "m": "1",
            "split": "train",
            "rot-agree": "3.0",
            "rot-categorization": "morality-ethics",
            "rot-moral-foundations": foundations,
            "rot-bad": bad,
            "rot-judgment": "it's bad",
            "action": action,
            "action-moral-judgment": judgment,
            "action-agree": agree,
            "situation": 'my friend said "hi',  # an unbalanced quote, as in the real file
            "rot": f"It's expected that you think about {action} (rule {line})",
            "rot-id": f"rot/{line}",
        }
    )
    return "\t".join(cells[c] for c in HEADER)


@pytest.fixture
def tsv(tmp_path: Path) -> Path:
    lines = ["\t".join(HEADER)] + [_row(*r, line=i + 2) for i, r in enumerate(ROWS)]
    path = tmp_path / "social-chem-101.v1.0.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _by_text(items, text):  # type: ignore[no-untyped-def]
    rows = items[items["lemma"] == text]
    assert len(rows) == 1, text
    return rows.iloc[0]


def test_actions_are_kept_and_dropped_for_exactly_the_stated_reasons(tsv: Path) -> None:
    loaded = load_social_chem(tsv)
    assert loaded.kept == 6 and loaded.unit == "rows" and len(loaded.items) == 5
    assert loaded.dropped == {
        "neutral judgment (0)": 1,
        "unknown moral foundation 'liberty-oppression'": 1,
        "no moral foundation": 1,
        "annotator agreement below min_agree": 1,
        "unparseable action-moral-judgment (first at line 9)": 2,
        "conflicting judgments": 2,
        "rot-bad (annotators flagged the rule of thumb)": 1,
        "unparseable action-agree (first at line 17)": 1,
    }
    assert loaded.describe().startswith(f"kept 6 of 16 rows from {tsv}")
    assert list(loaded.items.columns[: len(ITEM_COLUMNS)]) == list(ITEM_COLUMNS)
    assert (loaded.items["source"] == "social-chem-101").all()
    assert "MULTI_FOUNDATION_RULE" in loaded.construction and "(|judgment| / 2)" in loaded.construction


def test_typicality_and_vector_follow_judgment_times_agreement(tsv: Path) -> None:
    items = load_social_chem(tsv).items
    virtue = _by_text(items, "helping a stranger carry groceries")
    assert virtue["kind"] == "virtue" and virtue["foundation"] == "care"
    assert virtue["typicality"] == pytest.approx(1.0) and virtue["item_id"] == "socialchem-action-2"
    assert {c: virtue[c] for c in VECTOR_COLUMNS} == {
        c: 1.0 if c == "care_virtue" else 0.0 for c in VECTOR_COLUMNS
    }
    vice = _by_text(items, "stealing from your employer")
    assert vice["kind"] == "vice" and vice["typicality"] == pytest.approx(0.5 * 0.75)
    assert vice["fairness_vice"] == pytest.approx(0.375) and vice[
        list(VECTOR_COLUMNS)
    ].sum() == pytest.approx(0.375)
    sanctity = _by_text(items, "spitting in someone's food")
    assert sanctity["foundation"] == "sanctity" and sanctity["sanctity_vice"] == pytest.approx(0.75)


def test_several_foundations_share_the_strength_and_the_first_in_foundation_order_is_primary(
    tsv: Path,
) -> None:
    item = _by_text(load_social_chem(tsv).items, "lying to your parents about where you were")
    assert item["foundation"] == "loyalty"  # listed second, but loyalty precedes authority
    assert item["n_foundations"] == 2 and item["typicality"] == pytest.approx(0.5)
    assert item["loyalty_vice"] == pytest.approx(0.5) and item["authority_vice"] == pytest.approx(0.5)
    assert item["loyalty_virtue"] == 0.0 and item["care_vice"] == 0.0


def test_repeated_actions_merge_into_one_item_with_mean_ratings_and_union_of_foundations(tsv: Path) -> None:
    item = _by_text(load_social_chem(tsv).items, 'saying "no" to a friend\'s unfair request')
    assert item["text"] == 'Saying "no" to a friend\'s  unfair request' and item["n_rows"] == 2
    assert item["judgment"] == pytest.approx(1.5) and item["agreement"] == pytest.approx(3.0)
    assert item["typicality"] == pytest.approx(0.75 * 0.75)
    assert item["care_virtue"] == pytest.approx(0.5625) and item["fairness_virtue"] == pytest.approx(0.5625)
    assert item["foundation"] == "care" and item["n_foundations"] == 2


def test_options_change_what_is_kept(tsv: Path) -> None:
    assert load_social_chem(tsv, drop_bad=False).kept == 7
    first = load_social_chem(tsv, max_rows=3)
    assert first.kept == 2 and first.dropped == {"neutral judgment (0)": 1}
    strict = load_social_chem(tsv, min_agree=4)
    assert strict.kept == 2 and strict.dropped["annotator agreement below min_agree"] == 9


def test_rules_of_thumb_use_their_own_text_and_agreement(tsv: Path) -> None:
    loaded = load_social_chem(tsv, unit="rot")
    assert loaded.kept == 10 and len(loaded.items) == 10  # every rot differs; rot-agree is 3 throughout
    item = _by_text(
        loaded.items, "it's expected that you think about helping a stranger carry groceries (rule 2)"
    )
    assert item["typicality"] == pytest.approx(1.0 * 3 / 4) and item["kind"] == "virtue"
    assert "conflicting judgments" not in loaded.dropped


def test_a_file_without_the_needed_columns_says_what_it_should_be(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(["x"] * len(HEADER)) + "\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"wrong\.csv: row 1 \(header\): missing columns action, "):
        load_social_chem(path)
    partial = tmp_path / "partial.tsv"
    partial.write_text("\t".join(c for c in HEADER if c != "action-agree") + "\n", encoding="utf-8")
    with pytest.raises(
        StimulusError, match=r"missing columns action-agree; expected Social-Chem-101's tab-sep"
    ):
        load_social_chem(partial)


def test_a_file_with_nothing_usable_lists_the_drop_counts(tmp_path: Path) -> None:
    lines = [
        "\t".join(HEADER),
        _row("eating cereal", "0.0", "4.0", "care-harm", "0", 2),
        _row("eating toast", "0.0", "4.0", "care-harm", "0", 3),
        _row("eating rice", "-1.0", "0.0", "care-harm", "0", 4),
    ]
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = (
        r"no usable actions \(dropped neutral judgment \(0\): 2, annotator agreement below min_agree: 1\)"
    )
    with pytest.raises(StimulusError, match=expected):
        load_social_chem(path)
