"""The entanglement study end to end: mechanics on a tiny model, and the real Gemma-3-270M quick run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.studies.entanglement import ANCHORS, prompt
from valuescope.studies.metrics import check_metric

CONTRACT = (
    "grammar_entanglement", "economic_entanglement", "grammar_entanglement_after_repair",
    "economic_entanglement_after_repair", "grammar_discrimination", "grammar_discrimination_after_repair",
    "economic_discrimination", "economic_discrimination_after_repair", "moral_discrimination",
    "moral_discrimination_after_repair", "random_ablation_grammar_entanglement", "repair_kl",
)  # fmt: skip
TINY = """
studies:
  entanglement: {n_frames: 4, n_random: 3, n_boot: 100, n_perm: 50, n_null: 100, paraphrases: 2}
"""


def test_reversed_prompts_swap_the_anchors() -> None:
    normal, flipped = prompt("grammar", 0, False, "X."), prompt("grammar", 0, True, "X.")
    low, high = ANCHORS["grammar"]
    assert normal.index(low) < normal.index(high) and flipped.index(high) < flipped.index(low)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ent")
    config = tmp / "c.yaml"
    config.write_text(TINY)
    out = tmp / "run"
    execute(make_plan("entanglement", ["tiny-llama"], out, config_file=config, profile="quick"), quiet=True)
    return out


def test_the_contract_metrics_are_there_and_valid(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())["entanglement"]["tiny-llama"]
    for name in CONTRACT:
        assert name in summary, name
    for name, entry in summary.items():
        check_metric(name, entry, "entanglement/tiny-llama")
    assert "layer" in summary["grammar_entanglement_after_repair"]
    assert summary["grammar_entanglement_after_repair"]["note"].startswith("repair: ")


def test_tables_and_the_moral_direction_are_saved(tiny_run: Path) -> None:
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    names = {t["name"] for t in manifest["outputs"]["entanglement"]["tables"]}
    assert {"ratings", "layers", "repair", "embeddings", "verdict"} <= names
    tensors = manifest["outputs"]["entanglement"]["tensors"][0]["names"]
    assert "moral_direction" in tensors and "random_directions" in tensors
    figures = {f["name"] for f in manifest["outputs"]["entanglement"]["figures"]}
    assert {"transfer_by_layer", "repair"} <= figures


@pytest.mark.real
def test_gemma_moral_direction_separates_held_out_items(tmp_path: Path) -> None:
    """Quick profile on the real model: the moral direction, fit on moral-only items, separates the
    (never seen) good from bad grammar-domain items above chance at the repair read point."""
    out = tmp_path / "run"
    execute(make_plan("entanglement", ["gemma-3-270m"], out, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())["entanglement"]["gemma-3-270m"]
    auroc = summary["moral_direction_auroc_grammar_items"]
    assert auroc["ci_low"] > 0.5, auroc
