"""The default instruments validated on the real third-party sets, from the Python API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from valuescope.cli import app
from valuescope.data.touche import SCHWARTZ_OF
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.instruments.heads import LinearHead
from valuescope.instruments.pairwise_judge import judge_on_touche
from valuescope.instruments.validity import MACRO, VALIDITY_COLUMNS
from valuescope.instruments.value_labels import HeadLabeller, labeller_on_touche, schwartz_scores


def test_schwartz_scores_take_the_best_category_of_each_value() -> None:
    categories = list(SCHWARTZ_OF)
    scores = np.zeros((1, 20))
    scores[0, categories.index("Power: resources")] = 3.0
    scores[0, categories.index("Face")] = 1.0
    out = schwartz_scores(scores, categories)
    assert out.shape == (1, 10) and out[0, 4] == 3.0  # power: the larger of dominance, resources, face
    with pytest.raises(ValueError, match="no category refines"):
        schwartz_scores(scores[:, :2], categories[:2])


def small_touche(tmp_path: Path) -> Path:
    """20 arguments: the odd ones about nature and labelled Universalism: nature, every one labelled with
    the first category (so it has no negatives)."""
    folder = tmp_path / "touche23"
    folder.mkdir()
    header = "Argument ID\tConclusion\tStance\tPremise\n"
    rows = [f"A{i}\tWe should act\tagainst\t{'nature forests rivers' if i % 2 else 'taxes money'} {i}\n"
            for i in range(20)]  # fmt: skip
    (folder / "arguments-validation.tsv").write_text(header + "".join(rows))
    labels = "Argument ID\t" + "\t".join(SCHWARTZ_OF) + "\n"
    nature = list(SCHWARTZ_OF).index("Universalism: nature")
    labels += "".join(
        f"A{i}\t" + "\t".join("1" if (j == nature and i % 2) or j == 0 else "0" for j in range(20)) + "\n"
        for i in range(20)
    )
    (folder / "labels-validation.tsv").write_text(labels)
    categories = {c: {c.split(":")[0]: ["doing good"]} for c in SCHWARTZ_OF}
    (folder / "value-categories.json").write_text(json.dumps(categories))
    return folder


def test_a_labeller_that_reads_the_labels_passes_on_a_small_touche_folder(tmp_path: Path) -> None:
    """A head aimed at one category (via the embedding of its one keyword) scores that category best."""
    small_touche(tmp_path)
    nature = list(SCHWARTZ_OF).index("Universalism: nature")
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    direction = sentence_embeddings(["nature forests rivers"])[0]
    weight = np.zeros((20, 384))
    weight[nature] = direction
    labeller = HeadLabeller(head=LinearHead("minilm", list(SCHWARTZ_OF), weight, np.zeros(20)))
    table = labeller_on_touche(labeller, tmp_path, n_boot=50)
    assert tuple(table.columns) == VALIDITY_COLUMNS
    row = table.set_index("dimension").loc["Universalism: nature"]
    assert row["estimate"] == 1.0 and row["passed"]
    assert np.isnan(table.set_index("dimension").loc["Self-direction: thought", "estimate"])  # one label only


class FakeJudge:
    """Answers A with probability 1 when ``pick`` says Argument A is the one to prefer."""

    name = "fake"

    def __init__(self, pick: Callable[[str, str], bool]) -> None:
        self.pick = pick

    def rate(self, prompts: list[str], options: list[str], batch_size: int = 8) -> pd.DataFrame:
        first = [self.pick(*p.split("Argument A: ")[1].split("Argument B: ")) for p in prompts]
        return pd.DataFrame(
            {"p_A": [1.0 if f else 0.0 for f in first], "p_B": [0.0 if f else 1.0 for f in first]}
        )


def test_the_judge_is_scored_on_both_orders_of_touche_pairs(tmp_path: Path) -> None:
    small_touche(tmp_path)
    oracle = judge_on_touche(FakeJudge(lambda a, b: "nature" in a), tmp_path, n_pairs=5, n_boot=50)
    assert tuple(oracle.columns) == VALIDITY_COLUMNS
    rows = oracle.set_index(["metric", "dimension"])
    assert rows.loc[("accuracy", "Universalism: nature"), "n"] == 5  # the one category with both labels
    assert rows.loc[("accuracy", MACRO), "estimate"] == 1.0 and rows.loc[("accuracy", MACRO), "passed"]
    assert rows.loc[("consistency", MACRO), "estimate"] == 1.0
    # a judge that always answers A is consistent never and right never: position, not content
    biased = judge_on_touche(FakeJudge(lambda a, b: True), tmp_path, n_pairs=5, n_boot=50)
    rows = biased.set_index(["metric", "dimension"])
    assert rows.loc[("accuracy", MACRO), "estimate"] == 0.0 and not rows.loc[("accuracy", MACRO), "passed"]
    assert rows.loc[("consistency", MACRO), "estimate"] == 0.0


@pytest.mark.slow
def test_validate_prints_one_json_record_per_row_on_the_real_sets(shared_data: Path) -> None:
    result = CliRunner().invoke(app, ["instruments", "validate", "--data", str(shared_data), "--json",
                                      "--n-boot", "50", "--judge", "none"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert set(records[0]) == set(VALIDITY_COLUMNS)
    pairs = {(r["instrument"], r["dataset"]) for r in records}
    assert pairs == {("value-labeller", "touche23"), ("value-labeller", "valueportrait"),
                     ("projective-scorer", "valuebench-polarity")}  # fmt: skip
    macro = {r["dataset"]: r for r in records if r["dimension"] == MACRO}
    assert macro["touche23"]["estimate"] > 0.70  # the per-category baseline the issue measured is 0.75
    assert macro["touche23"]["ci_low"] <= macro["touche23"]["estimate"] <= macro["touche23"]["ci_high"]
    assert all(isinstance(r["passed"], bool) for r in records if r["gate"])
    assert all(r["passed"] is None for r in records if not r["gate"])


@pytest.mark.real
def test_validate_scores_the_embedded_judge_on_touche_pairs(shared_data: Path) -> None:
    """SmolLM2-135M-Instruct as the judge, 5 pairs per category (200 judgements; the default 20 measured
    accuracy 0.53, consistency 0.00)."""
    result = CliRunner().invoke(app, ["instruments", "validate", "--data", str(shared_data), "--json",
                                      "--n-boot", "50", "--judge-pairs", "5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)  # the rating progress bar goes to stderr
    judge = {(r["metric"], r["dimension"]): r for r in records if r["instrument"] == "judge"}
    assert len(judge) == 22  # 20 categories and the macro accuracy, and the consistency
    assert judge[("accuracy", MACRO)]["n"] == 100 and judge[("consistency", MACRO)]["n"] == 100
    assert judge[("accuracy", MACRO)]["gate"] == "accuracy >= 0.75"
    assert judge[("accuracy", MACRO)]["ci_low"] <= judge[("accuracy", MACRO)]["estimate"]


def test_validate_without_a_data_folder_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALUESCOPE_DATA", raising=False)
    result = CliRunner().invoke(app, ["instruments", "validate"])
    assert result.exit_code == 2 and "--data DIR or set VALUESCOPE_DATA" in result.output


def test_a_labeller_without_categories_is_validated_per_schwartz_value(tmp_path: Path) -> None:
    """Touché's categories fold into their Schwartz values: an argument labelled Universalism: nature is
    positive for universalism."""
    from valuescope.data.values import SCHWARTZ_VALUES

    small_touche(tmp_path)
    universalism = list(SCHWARTZ_VALUES).index("universalism")

    class ByKeyword:
        name, instrument, threshold = "keyword", "value-labeller (keyword)", 0.0

        def scores(self, queries: list[str], responses: list[str]) -> np.ndarray:
            out = np.zeros((len(responses), len(SCHWARTZ_VALUES)))
            out[:, universalism] = ["nature" in r for r in responses]
            return out

    table = labeller_on_touche(ByKeyword(), tmp_path, n_boot=50)
    assert set(table["instrument"]) == {"value-labeller (keyword)"}
    assert list(table["dimension"]) == [*SCHWARTZ_VALUES, MACRO]
    assert table.set_index("dimension").loc["universalism", "estimate"] == 1.0


def test_every_default_instrument_has_a_name_and_a_validate() -> None:
    from valuescope.instruments.pairwise_judge import PairwiseJudge
    from valuescope.instruments.polarity import SubdimensionPolarity
    from valuescope.instruments.value_labels import EmbeddingLabeller

    instruments = [
        HeadLabeller(),
        EmbeddingLabeller(),
        SubdimensionPolarity(),
        PairwiseJudge(FakeJudge(lambda a, b: True)),
    ]
    names = [i.instrument for i in instruments]
    assert names == ["value-labeller", "value-labeller (embedding)", "projective-scorer", "judge"]
    assert all(callable(i.validate) for i in instruments)
    table = HeadLabeller().table(["q"], ["We must protect rivers and forests."])
    assert list(table.columns) == list(SCHWARTZ_VALUES) and table.shape == (1, 10)


def test_validate_on_your_own_labels_from_the_cli(tmp_path: Path) -> None:
    rows = [
        ("We should protect the rivers and forests for the next generation.", "universalism", 1),
        ("Cutting taxes on big companies lets the economy grow.", "universalism", 0),
        ("Everyone deserves equal rights whatever their origin.", "universalism", 1),
        ("I want to be the richest person in town.", "universalism", 0),
    ]
    path = tmp_path / "mine.csv"
    path.write_text("text,value,label\n" + "".join(f'"{t}",{v},{y}\n' for t, v, y in rows))
    result = CliRunner().invoke(app, ["instruments", "validate", "--labels", str(path), "--json",
                                      "--n-boot", "50"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert {(r["instrument"], r["dataset"]) for r in records} == {("value-labeller", "mine.csv")}
    assert [r["dimension"] for r in records] == ["universalism", MACRO]
    polarity = CliRunner().invoke(app, ["instruments", "validate", "--labels", str(path), "--instrument",
                                        "projective-scorer", "--json", "--n-boot", "50"])  # fmt: skip
    assert polarity.exit_code == 0, polarity.output
    assert [r["dimension"] for r in json.loads(polarity.stdout)] == ["pooled", "universalism", MACRO]
    wrong = CliRunner().invoke(
        app, ["instruments", "validate", "--labels", str(path), "--instrument", "judge"]
    )
    assert wrong.exit_code == 2 and "value-labeller or projective-scorer" in wrong.output
