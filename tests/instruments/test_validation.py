"""The default instruments validated on the real third-party sets, from the Python API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from valuescope.cli import app
from valuescope.data.touche import SCHWARTZ_OF
from valuescope.instruments.heads import LinearHead
from valuescope.instruments.validation import labeller_on_touche
from valuescope.instruments.validity import MACRO, VALIDITY_COLUMNS
from valuescope.instruments.value_labels import HeadLabeller, schwartz_scores


def test_schwartz_scores_take_the_best_category_of_each_value() -> None:
    categories = list(SCHWARTZ_OF)
    scores = np.zeros((1, 20))
    scores[0, categories.index("Power: resources")] = 3.0
    scores[0, categories.index("Face")] = 1.0
    out = schwartz_scores(scores, categories)
    assert out.shape == (1, 10) and out[0, 4] == 3.0  # power: the larger of dominance, resources, face
    with pytest.raises(ValueError, match="no category refines"):
        schwartz_scores(scores[:, :2], categories[:2])


def test_a_labeller_that_reads_the_labels_passes_on_a_small_touche_folder(tmp_path: Path) -> None:
    """A head aimed at one category (via the embedding of its one keyword) scores that category best."""
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


@pytest.mark.slow
def test_validate_prints_one_json_record_per_row_on_the_real_sets(shared_data: Path) -> None:
    result = CliRunner().invoke(app, ["instruments", "validate", "--data", str(shared_data), "--json",
                                      "--n-boot", "50"])  # fmt: skip
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


def test_validate_without_a_data_folder_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALUESCOPE_DATA", raising=False)
    result = CliRunner().invoke(app, ["instruments", "validate"])
    assert result.exit_code == 2 and "--data DIR or set VALUESCOPE_DATA" in result.output
