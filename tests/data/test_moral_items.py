"""Moral items: the shared schema, the MoralStrength loader on the real lexicon and on bad folders, the
lemma grouper, the lemma split, and the authored neutral words matched for frequency and length."""

from __future__ import annotations

import csv
import importlib.util
import pickle
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuescope.data.csvfile import StimulusError
from valuescope.data.moral_items import (
    FOUNDATIONS,
    ITEM_COLUMNS,
    MULTI_FOUNDATION_RULE,
    POLES,
    VECTOR_COLUMNS,
    LoadedItems,
    canonical_foundation,
    check_items,
    lemma_groups,
    lemma_split,
    word_stem,
)
from valuescope.data.moralstrength import (
    INSTALL_HINT,
    MORALSTRENGTH_FILES,
    load_moralstrength,
    moralstrength_dir,
)
from valuescope.data.neutral import (
    form_balance,
    load_neutral_actions,
    load_neutral_words,
    matched_neutral,
)

HEADER_V11 = "WORD\tEXPRESSED_MORAL"


@pytest.fixture(scope="module")
def package_dir() -> Path:
    if importlib.util.find_spec("moralstrength") is None:
        pytest.skip(f"the MoralStrength lexicon is not installed; run `{INSTALL_HINT}`")
    return moralstrength_dir()


@pytest.fixture(scope="module")
def lexicon(package_dir: Path) -> LoadedItems:
    return load_moralstrength()


def raw_ratings(folder: Path) -> dict[str, dict[str, float]]:
    """{word: {foundation: rating}} read straight from the TSVs, independently of the loader."""
    out: dict[str, dict[str, float]] = {}
    for name in MORALSTRENGTH_FILES:
        foundation = canonical_foundation(name)
        assert foundation is not None
        with open(folder / f"{name}.tsv", encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                word = unicodedata.normalize("NFKC", row[next(iter(row))]).strip().lower()
                out.setdefault(word, {})[foundation] = float(row["EXPRESSED_MORAL"])
    return out


def write_lexicon(folder: Path, rows: dict[str, list[str]], header: str = HEADER_V11) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in MORALSTRENGTH_FILES:
        lines = [header, *rows.get(name, ["placeholder\t7.0"] if name == "care" else [])]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------------ the schema


def test_vector_columns_pair_each_foundation_with_both_poles_in_order() -> None:
    assert VECTOR_COLUMNS[:4] == ("care_virtue", "care_vice", "fairness_virtue", "fairness_vice")
    assert len(VECTOR_COLUMNS) == 10 and VECTOR_COLUMNS[-1] == "sanctity_vice"
    assert ITEM_COLUMNS[:6] == ("item_id", "text", "lemma", "kind", "foundation", "typicality")
    assert ITEM_COLUMNS[-2:] == ("n_foundations", "source")


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("care", "care"),
        ("Care-Harm", "care"),
        ("harm", "care"),
        (" fairness-cheating ", "fairness"),
        ("fairness", "fairness"),
        ("loyalty-betrayal", "loyalty"),
        ("INGROUP", "loyalty"),
        ("authority-subversion", "authority"),
        ("sanctity-degradation", "sanctity"),
        ("purity", "sanctity"),
        ("sanctity", "sanctity"),
        ("liberty", None),
    ],
)
def test_canonical_foundation_maps_mft_spellings(name: str, canonical: str | None) -> None:
    assert canonical_foundation(name) == canonical


def item(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": "x:1",
        "text": "harm",
        "lemma": "harm",
        "kind": "vice",
        "foundation": "care",
        "typicality": 0.5,
        **dict.fromkeys(VECTOR_COLUMNS, 0.0),
        "n_foundations": 1,
        "source": "test",
    }
    row["care_vice"] = 0.5
    row.update(overrides)
    return row


def test_check_items_orders_columns_and_keeps_extras() -> None:
    df = pd.DataFrame([item(), item(item_id="x:2", text="help", kind="virtue")]).iloc[:, ::-1]
    df["zipf"] = [3.0, 4.0]
    out = check_items(df, "test")
    assert list(out.columns) == [*ITEM_COLUMNS, "zipf"]
    assert out["n_foundations"].dtype.kind == "i"


@pytest.mark.parametrize(
    ("overrides", "column", "words"),
    [
        ({"kind": "good"}, "kind", "not a kind"),
        ({"foundation": "purity"}, "foundation", "'sanctity'"),
        ({"foundation": "liberty"}, "foundation", "not canonical"),
        ({"typicality": 1.5}, "typicality", "[0, 1]"),
        ({"care_vice": -0.1}, "care_vice", "[0, 1]"),
        ({"text": ""}, "text", "non-empty"),
        ({"lemma": " "}, "lemma", "non-empty"),
        ({"n_foundations": 0}, "n_foundations", "counts no rating"),
        ({"n_foundations": 1.5}, "n_foundations", "count"),
        ({"kind": "neutral", "foundation": "care"}, "foundation", "neutral"),
        ({"kind": "neutral", "foundation": "", "typicality": 0.0}, "care_vice", "moral rating"),
    ],
)
def test_check_items_names_the_source_item_and_column(overrides: dict, column: str, words: str) -> None:
    df = pd.DataFrame([item(item_id="ok"), item(**overrides)])
    with pytest.raises(StimulusError, match=rf"^my-source: item 1 \('x:1'\), column '{column}'.*") as e:
        check_items(df, "my-source")
    assert words in str(e.value)


def test_check_items_rejects_missing_columns_and_repeated_ids() -> None:
    with pytest.raises(StimulusError, match=r"my-source: missing columns typicality"):
        check_items(pd.DataFrame([item()]).drop(columns=["typicality"]), "my-source")
    with pytest.raises(StimulusError, match=r"item 1 \('x:1'\), column 'item_id': repeats item 0"):
        check_items(pd.DataFrame([item(), item()]), "my-source")


def test_describe_is_one_line_with_every_reason() -> None:
    loaded = LoadedItems(pd.DataFrame([item()]), "src", 1, {"bad": 2, "worse": 3}, "how", unit="words")
    assert loaded.describe() == "kept 1 of 6 words from src; dropped: bad (2), worse (3)"
    assert "ties going to the first" in MULTI_FOUNDATION_RULE


# ------------------------------------------------------------------------------------------------ lemmas


@pytest.mark.parametrize(
    ("words", "stem"),
    [
        (("abandon", "abandoned", "abandoning", "abandons"), "abandon"),
        (("abet", "abetted", "abetting", "abets"), "abet"),
        (("abuse", "abused", "abuses", "abusing", "abuser", "abusers"), "abus"),
        (("deny", "denied", "denies", "denying"), "deny"),
        (("happy", "happiness", "happily"), "happy"),
        (("punish", "punishment", "punishments"), "punish"),
    ],
)
def test_word_stem_meets_inflections(words: tuple[str, ...], stem: str) -> None:
    assert {word_stem(w) for w in words} == {stem}


def test_word_stem_keeps_distinct_words_apart() -> None:
    assert word_stem("care") != word_stem("careful")
    assert word_stem("virus") == "virus" and word_stem("basis") == "basis"  # no -s stripped after s/u/i


def test_lemma_groups_merge_inflections_with_one_rating() -> None:
    words = ["abandon", "abandoned", "abandoning", "abet", "abetted", "care", "careful"]
    ratings = [{"care": 1.6}] * 3 + [{"fairness": 2.0}] * 2 + [{"care": 8.8}, {"care": 8.0}]
    groups = lemma_groups(words, ratings)
    assert {groups[w] for w in ("abandon", "abandoned", "abandoning")} == {"abandon"}
    assert groups["abet"] == groups["abetted"] == "abet"
    assert groups["care"] == "care" and groups["careful"] == "careful"


def test_lemma_groups_need_equal_ratings_in_a_shared_foundation() -> None:
    words = ["abandon", "abandoned", "abandoning", "abandons"]
    ratings = [{"care": 1.6}, {"care": 2.4}, {"care": 1.6, "loyalty": 2.0}, {"loyalty": 2.0}]
    groups = lemma_groups(words, ratings)
    assert groups["abandon"] == groups["abandoning"] == "abandon"
    assert groups["abandoned"] == "abandoned"  # same stem, other rating
    assert groups["abandons"] == "abandons"  # shares no foundation with 'abandon'


def test_lemma_groups_prefer_a_known_lemma_as_key() -> None:
    groups = lemma_groups(["wreck", "wrecked", "wrecks"], known_lemmas={"wrecked"})
    assert set(groups.values()) == {"wrecked"}


def test_lemma_groups_on_the_real_lexicon_group_known_inflections(lexicon: LoadedItems) -> None:
    lemma = lexicon.items.set_index("text")["lemma"]
    assert lemma["abandon"] == lemma["abandoned"] == lemma["abandoning"]
    # one stem rated differently is still one lemma, so the split never puts care and caring apart
    assert lemma["care"] == lemma["caring"]
    assert lexicon.items["lemma"].nunique() < len(lexicon.items)


def items_frame(lemmas: list[str], kinds: list[str]) -> pd.DataFrame:
    rows = []
    for i, (lemma, kind) in enumerate(zip(lemmas, kinds, strict=True)):
        neutral = kind == "neutral"
        rows.append(
            item(
                item_id=f"x:{i}",
                text=f"{lemma}{i}",
                lemma=lemma,
                kind=kind,
                foundation="" if neutral else "care",
                typicality=0.0 if neutral else 0.5,
                care_vice=0.0 if neutral else 0.5,
                n_foundations=0 if neutral else 1,
            )
        )
    return check_items(pd.DataFrame(rows), "test")


def test_lemma_split_keeps_lemmas_whole_and_kinds_balanced() -> None:
    rng = np.random.default_rng(3)
    lemmas, kinds = [], []
    for kind, n in (("virtue", 41), ("vice", 60), ("neutral", 33)):
        for j in range(n):
            for _ in range(int(rng.integers(1, 4))):
                lemmas.append(f"{kind}-{j}")
                kinds.append(kind)
    df = items_frame(lemmas, kinds)
    a, b = lemma_split(df, seed=0)
    assert (a ^ b).all()
    assert not set(df["lemma"][a]) & set(df["lemma"][b])
    for kind in ("virtue", "vice", "neutral"):
        n_a = df["lemma"][a & (df["kind"] == kind)].nunique()
        n_b = df["lemma"][b & (df["kind"] == kind)].nunique()
        assert abs(n_a - n_b) <= 1
    again, _ = lemma_split(df, seed=0)
    other, _ = lemma_split(df, seed=1)
    assert (again == a).all() and (other != a).any()


def test_lemma_split_on_the_real_lexicon(lexicon: LoadedItems) -> None:
    items = lexicon.items
    a, b = lemma_split(items, seed=7)
    assert not set(items["lemma"][a]) & set(items["lemma"][b])
    for kind in ("virtue", "vice"):
        first = items.groupby("lemma")["kind"].first()
        n_kind = int((first == kind).sum())
        n_a = items["lemma"][a][items["kind"][a] == kind].nunique()
        assert abs(n_a - n_kind / 2) <= 0.05 * n_kind


# --------------------------------------------------------------------------------- MoralStrength (real)


def test_real_lexicon_loads_every_foundation_and_pole(lexicon: LoadedItems) -> None:
    items = lexicon.items
    assert lexicon.source == "moralstrength-v1.1" and lexicon.kept == len(items) >= 2000
    assert list(items.columns) == list(ITEM_COLUMNS)
    cells = items.groupby(["foundation", "kind"]).size()
    assert {(f, p) for f in FOUNDATIONS for p in POLES} == set(cells.index)
    assert cells.min() >= 150
    assert ((items["typicality"] > 0) & (items["typicality"] <= 1)).all()
    assert items["item_id"].str.startswith("ms:").all() and items["item_id"].is_unique
    assert lexicon.kept + sum(lexicon.dropped.values()) == 2655  # distinct strings in the five files
    assert lexicon.dropped["not a word (letters, apostrophes, inner hyphens only)"] == 15
    assert lexicon.dropped["rated at the midpoint"] > 0
    assert lexicon.describe().startswith(f"kept {lexicon.kept} of 2655 words from moralstrength-v1.1")


def test_real_lexicon_vector_is_the_rescaled_rating(lexicon: LoadedItems, package_dir: Path) -> None:
    """Parity with the TSVs: every polar rating r sits at <foundation>_<pole> as |r - 5| / 4."""
    raw = raw_ratings(package_dir / "annotations" / "v1.1")
    items = lexicon.items.set_index("text")
    for word in ("abandon", "abuse", "loyal", "sacred", "obey"):
        for foundation in FOUNDATIONS:
            r = raw[word].get(foundation)
            virtue, vice = items.loc[word, [f"{foundation}_virtue", f"{foundation}_vice"]]
            if r is None or r == 5.0:
                assert virtue == vice == 0
            else:
                assert (virtue if r > 5 else vice) == pytest.approx(abs(r - 5) / 4)
                assert (vice if r > 5 else virtue) == 0
    polar = {w: {f: r for f, r in v.items() if r != 5.0} for w, v in raw.items()}
    counts = items["n_foundations"]
    assert all(counts[w] == len(polar[w]) for w in items.index)


def test_real_lexicon_multi_foundation_words_follow_the_rule(lexicon: LoadedItems) -> None:
    items = lexicon.items
    multi = items[items["n_foundations"] > 1]
    assert 150 <= len(multi) <= 190
    assert f"{len(multi)} kept words had polar ratings under more than one foundation" in lexicon.construction
    strength = np.stack(
        [multi[[f"{f}_virtue", f"{f}_vice"]].to_numpy().max(axis=1) for f in FOUNDATIONS], axis=1
    )
    assert (multi["foundation"].to_numpy() == np.array(FOUNDATIONS)[strength.argmax(axis=1)]).all()
    assert np.allclose(multi["typicality"], strength.max(axis=1))
    for row in multi.itertuples():
        assert getattr(row, f"{row.foundation}_{row.kind}") == row.typicality
    dropped = load_moralstrength(multi="drop")
    assert dropped.dropped["rated under more than one foundation (multi='drop')"] == len(multi)
    assert (dropped.items["n_foundations"] == 1).all() and dropped.kept == lexicon.kept - len(multi)


def test_real_lexicon_is_read_without_pickles_or_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pickle was opened")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.delitem(sys.modules, "moralstrength", raising=False)
    if importlib.util.find_spec("moralstrength") is None:
        pytest.skip(f"the MoralStrength lexicon is not installed; run `{INSTALL_HINT}`")
    assert load_moralstrength().kept >= 2000
    assert "moralstrength" not in sys.modules


def test_original_lemma_files_load(package_dir: Path) -> None:
    original = load_moralstrength(version="original")
    assert original.source == "moralstrength-original"
    assert 400 <= original.kept <= 452
    assert set(original.items["foundation"]) == set(FOUNDATIONS)
    assert (original.items["lemma"] == original.items["text"]).all()
    assert any("rated twice with different ratings" in reason for reason in original.dropped)


def test_midpoint_moves_the_poles(package_dir: Path) -> None:
    shifted = load_moralstrength(midpoint=6.0)
    assert ((shifted.items["typicality"] > 0) & (shifted.items["typicality"] <= 1)).all()
    assert "Typicality = |rating - 6| / 5" in shifted.construction


# ---------------------------------------------------------------------------- MoralStrength (bad folders)


def test_user_folder_directly_or_under_annotations(tmp_path: Path) -> None:
    rows = {"care": ["harm\t1.0", "harmed\t1.0", "help\t8.0"], "loyalty": ["harm\t2.0"]}
    direct = load_moralstrength(write_lexicon(tmp_path / "direct", rows))
    write_lexicon(tmp_path / "pkg" / "annotations" / "v1.1", rows)
    nested = load_moralstrength(tmp_path / "pkg")
    for loaded in (direct, nested):
        items = loaded.items.set_index("text")
        assert loaded.kept == 3 and items.loc["harm", "n_foundations"] == 2
        assert items.loc["harm", "foundation"] == "care" and items.loc["harm", "kind"] == "vice"
        assert items.loc["harmed", "lemma"] == "harm"  # one stem, the same rating in the shared foundation
        assert items.loc["help", "typicality"] == pytest.approx(0.75)


def test_missing_lexicon_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps moralstrength==0\.2\.13"):
        moralstrength_dir(tmp_path)


def test_wrong_header_names_the_file(tmp_path: Path) -> None:
    folder = write_lexicon(tmp_path, {})
    (folder / "fairness.tsv").write_text("word,rating\nfair,8\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"fairness\.tsv: row 1 \(header\)"):
        load_moralstrength(folder)


def test_original_files_passed_as_v11_suggest_the_version(tmp_path: Path) -> None:
    folder = write_lexicon(tmp_path, {}, header="LEMMA\tEXPRESSED_MORAL")
    with pytest.raises(StimulusError, match=r"care\.tsv.*pass version='original'"):
        load_moralstrength(folder)
    assert load_moralstrength(folder, version="original").kept == 1


def test_bad_rows_are_dropped_with_file_and_row(tmp_path: Path) -> None:
    rows = {
        "care": ["harm\t1.0", "hurt\tlots", "maim\t12", "heal\t5", "tend\t7\textra"],
        "purity": ["-sama\t6.0", "15th-minute\t6.2", "filth\t2.0", "filth\t3.0", "pure\t8.0", "pure\t8.0"],
        "authority": ["hurt\t2.0"],
    }
    loaded = load_moralstrength(write_lexicon(tmp_path, rows))
    assert set(loaded.items["text"]) == {"harm", "hurt", "pure"}  # hurt survives through authority
    assert loaded.dropped == {
        "not a word (letters, apostrophes, inner hyphens only)": 2,
        "not WORD<TAB>RATING in care.tsv (row 6)": 1,
        "rating not a number in [1, 9] in care.tsv (row 4)": 1,
        "rated twice with different ratings in purity.tsv (rows 4, 5)": 1,
        "rated at the midpoint": 1,
    }
    assert "1 unreadable ratings" in loaded.construction  # hurt's care row
    assert loaded.describe().startswith("kept 3 of 9 words")


def test_a_folder_with_no_usable_word_is_an_error(tmp_path: Path) -> None:
    rows = {"care": ["harm\tnan", "hurt\t0", "-san\t3"]}
    with pytest.raises(StimulusError, match=r"no usable word.*rating not a number in \[1, 9\] in care\.tsv"):
        load_moralstrength(write_lexicon(tmp_path, rows))


# ------------------------------------------------------------------------------------------ neutral words


def test_neutral_words_are_unique_lower_case_and_not_in_the_lexicon(package_dir: Path) -> None:
    pool = load_neutral_words()
    assert len(pool) >= 800 and pool["word"].is_unique
    assert (pool["word"] == pool["word"].str.lower()).all()
    assert not pool["word"].str.contains(r"\s").any()
    lexicon = set(raw_ratings(package_dir / "annotations" / "v1.1")) | set(
        raw_ratings(package_dir / "annotations")
    )
    assert not set(pool["word"]) & lexicon
    for obvious in ("clean", "dirty", "pure", "kind", "fair", "loyal", "holy", "sweet"):
        assert obvious not in set(pool["word"])


def test_neutral_words_file_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "words.csv"
    bad.write_text("word,category\nchair,furniture\nTable,furniture\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"row 3, column 'word': 'Table' is not one lower-case word"):
        load_neutral_words(bad)
    bad.write_text("word,category\nchair,furniture\nchair,furniture\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"row 3, column 'word': 'chair' repeats row 2"):
        load_neutral_words(bad)
    bad.write_text("word,category\narm chair,furniture\n", encoding="utf-8")
    with pytest.raises(StimulusError, match=r"row 2, column 'word'"):
        load_neutral_words(bad)


@pytest.fixture(scope="module")
def moral_sample(lexicon: LoadedItems) -> list[str]:
    rng = np.random.default_rng(11)
    return list(rng.choice(lexicon.items["text"].to_numpy(), size=300, replace=False))


def test_matched_neutral_returns_n_items_in_the_schema(moral_sample: list[str]) -> None:
    chosen = matched_neutral(moral_sample, 120, seed=0)
    assert len(chosen) == 120 and chosen["text"].is_unique
    assert list(chosen.columns) == [*ITEM_COLUMNS, "zipf", "length"]
    assert (chosen["kind"] == "neutral").all() and (chosen["foundation"] == "").all()
    assert (chosen[list(VECTOR_COLUMNS)].to_numpy() == 0).all() and (chosen["n_foundations"] == 0).all()
    assert (chosen["item_id"] == "neutral:" + chosen["text"]).all()
    assert (chosen["source"] == "neutral-authored").all()
    assert not set(chosen["text"]) & set(moral_sample)


def test_matched_neutral_is_deterministic_by_seed(moral_sample: list[str]) -> None:
    a = matched_neutral(moral_sample, 100, seed=4)
    b = matched_neutral(moral_sample, 100, seed=4)
    c = matched_neutral(moral_sample, 100, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["text"]) != list(c["text"])


def test_matched_neutral_matches_frequency_and_length(moral_sample: list[str]) -> None:
    chosen = matched_neutral(moral_sample, 300, seed=0)
    balance = form_balance(moral_sample, list(chosen["text"]))
    assert balance["zipf_ks_p"] > 0.05 and balance["length_ks_p"] > 0.05
    assert abs(balance["moral_zipf_mean"] - balance["neutral_zipf_mean"]) < 0.15
    assert abs(balance["moral_length_mean"] - balance["neutral_length_mean"]) < 0.5
    assert balance["n_moral"] == balance["n_neutral"] == 300


def test_matched_neutral_can_cover_half_the_full_lexicon(lexicon: LoadedItems) -> None:
    texts = list(lexicon.items["text"])
    chosen = matched_neutral(texts, lexicon.items["lemma"].nunique() // 2, seed=0)
    balance = form_balance(texts, list(chosen["text"]))
    assert balance["zipf_ks_p"] > 0.05 and balance["length_ks_p"] > 0.05


def test_neutral_lemmas_join_inflections() -> None:
    pool = pd.DataFrame({"word": ["chair", "chairs", "table", "tables", "ottoman"]})
    chosen = matched_neutral(["harm", "harmed", "cheat", "cheaters", "loyal"], 5, pool=pool, seed=0)
    lemma = chosen.set_index("text")["lemma"]
    assert lemma["chairs"] == "chair" and lemma["tables"] == "table" and lemma["ottoman"] == "ottoman"


def test_matched_neutral_refuses_phrases_and_oversized_requests() -> None:
    with pytest.raises(ValueError, match=r"load_neutral_actions\(\)"):
        matched_neutral(["hitting a friend", "helping a neighbour", "lying"], 2)
    with pytest.raises(ValueError, match=r"neutral pool holds 2 words"):
        matched_neutral(["harm"], 3, pool=pd.DataFrame({"word": ["chair", "table"]}))


def test_neutral_actions_are_phrases_in_the_schema() -> None:
    actions = load_neutral_actions()
    assert 140 <= len(actions) <= 200
    assert list(actions.columns) == list(ITEM_COLUMNS) and (actions["kind"] == "neutral").all()
    assert (actions["lemma"] == actions["text"].str.lower()).all() and actions["lemma"].is_unique
    assert actions["text"].str.contains(" ").all()
    with pytest.raises(ValueError, match="phrases"):
        matched_neutral(list(actions["text"]), 10)
