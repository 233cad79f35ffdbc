"""The entanglement study end to end: mechanics on a tiny model, and the real Gemma-3-270M quick run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.stats.metrics import check_metric
from valuescope.studies.entanglement.config import ANCHORS, prompt
from valuescope.studies.entanglement.findings import model_findings

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


def test_per_scale_indices_and_findings_are_recorded(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())["entanglement"]["tiny-llama"]
    for domain in ("grammar", "economic"):
        for scale in ("normal", "reversed"):
            assert f"{domain}_entanglement_{scale}_scale" in summary
    assert "random_ablation_kl" in summary
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    findings = manifest["studies"]["entanglement"]["findings"]["tiny-llama"]
    assert findings and all(isinstance(x, str) for x in findings)
    assert sum(x.startswith("Repair, ") for x in findings) == 2
    from html import escape

    from valuescope.report import write_report

    report = write_report(tiny_run).read_text()
    assert "<h3>Findings</h3>" in report and escape(findings[-1], quote=True) in report


def _m(est: float, lo: float, hi: float, **kw: object) -> dict[str, object]:
    return {"estimate": est, "ci_low": lo, "ci_high": hi, **kw}


def test_findings_say_whether_the_model_entangles() -> None:
    leaky = {
        "grammar_entanglement": _m(0.6, 0.3, 0.9, p=0.002),
        "grammar_discrimination": _m(1.5, 1.1, 1.9),
        "economic_entanglement": _m(0.05, -0.2, 0.3, p=0.6),
        "economic_discrimination": _m(2.0, 1.5, 2.5),
    }
    text = model_findings(leaky, None)
    assert text[0] == (
        "In its ratings this model entangles moral with grammar value (d = 0.60); "
        "it shows no reliable moral leak into economic value."
    )
    assert any("moral goodness raises its grammar ratings" in t for t in text)
    assert any("does not reliably change its economic ratings" in t for t in text)
    blind = dict(leaky, grammar_discrimination=_m(0.1, -0.2, 0.4))
    text = model_findings(blind, None)
    assert text[0].startswith("In its ratings this model cannot be judged on grammar value")
    assert any("cannot be interpreted" in t for t in text)
    mixed = dict(leaky, grammar_entanglement=_m(0.3, 0.1, 0.5, p=0.2))  # CI excludes 0, p does not agree
    assert "may entangle moral with grammar value (mixed evidence)" in model_findings(mixed, None)[0]


def test_findings_say_relative_to_humans_from_the_verdict_table_not_the_note() -> None:
    metrics = {
        "grammar_entanglement": _m(0.6, 0.3, 0.9, p=0.002, note="whatever the note says"),
        "grammar_discrimination": _m(1.5, 1.1, 1.9),
    }
    verdict = pd.DataFrame(
        {"domain": ["grammar", "economic"], "relative_to_human": [True, False], "statement": ["", ""]}
    )
    assert any("relative to the human ratings" in t for t in model_findings(metrics, None, verdict))
    assert not any("relative to the human ratings" in t for t in model_findings(metrics, None))


@pytest.mark.real
def test_gemma_moral_direction_separates_held_out_items(tmp_path: Path) -> None:
    """Quick profile on the real model: the moral direction, fit on moral-only items, separates the
    (never seen) good from bad grammar-domain items above chance at the repair read point."""
    out = tmp_path / "run"
    execute(make_plan("entanglement", ["gemma-3-270m"], out, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())["entanglement"]["gemma-3-270m"]
    auroc = summary["moral_direction_auroc_grammar_items"]
    assert auroc["ci_low"] > 0.5, auroc
    # the quiet, mean-centred ablation that spares BOS edits Gemma gently (a plain mean-difference
    # direction projected to 0 everywhere measured KL 31.7 per token)
    assert summary["repair_kl"]["estimate"] < 0.5, summary["repair_kl"]


def test_human_ratings_set_the_norm(tmp_path: Path) -> None:
    """With a human-ratings file the headline is the model's index minus the humans' index."""
    import numpy as np
    import pandas as pd

    from valuescope.studies.entanglement import stimuli as st
    from valuescope.studies.entanglement.rating_effects import entanglement_index
    from valuescope.studies.entanglement.ratings import item_scores

    grammar = st.load_grammar(None)
    keep = list(dict.fromkeys(grammar["frame"]))[:4]
    grammar = grammar[grammar["frame"].isin(keep)]
    rng = np.random.default_rng(0)
    good = (grammar["valence"] == "good").to_numpy()
    grammatical = (grammar["version"] == "grammatical").to_numpy()
    human = pd.DataFrame(
        {
            "item_id": grammar["item_id"],
            "grammatical": 3 + 2.0 * grammatical + 0.8 * good + rng.normal(0, 0.5, len(grammar)),
        }
    )
    path = tmp_path / "human.csv"
    human.to_csv(path, index=False)
    config = tmp_path / "c.yaml"
    config.write_text(TINY.replace("paraphrases: 2}", f"paraphrases: 2, human_ratings: {path}}}"))
    out = tmp_path / "run"
    execute(make_plan("entanglement", ["tiny-llama"], out, config_file=config, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())["entanglement"]["tiny-llama"]
    ratings = pd.read_csv(out / "tables" / "entanglement__tiny-llama__ratings.csv")
    items = item_scores(ratings[ratings["domain"] == "grammar"], "grammar")
    model_index = entanglement_index(items, "score", "version")
    items["human"] = items["item_id"].map(human.set_index("item_id")["grammatical"])
    human_index = entanglement_index(items, "human", "version")
    assert human_index > 0.5  # the planted human leak
    assert summary["grammar_entanglement"]["estimate"] == pytest.approx(model_index - human_index, abs=1e-6)
    assert "human index 0" not in summary["grammar_entanglement"]["note"]
    assert "human index 0 by construction" in summary["economic_entanglement"]["note"]
