"""The indifference study end to end: mechanics on a tiny model, the judge gate in both outcomes, bad
configs, findings, and the embedded model's quick run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.runs.units import read_unit
from valuescope.stats.metrics import check_metric
from valuescope.studies.indifference import IndifferenceConfig

CONTRACT = (
    "virtue_vice_cosine", "typicality_spearman", "ari_valence", "ari_foundation", "probe_r2",
    "virtue_vice_cosine_after_repair", "typicality_spearman_after_repair", "ari_valence_after_repair",
    "ari_foundation_after_repair", "probe_r2_after_repair", "random_edit_virtue_vice_cosine",
    "random_edit_typicality_spearman", "repair_kl", "sae_fve", "sae_l0", "n_moral_features",
    "judged_win_rate",
)  # fmt: skip
TINY = """
studies:
  indifference: {max_lemmas: 120, n_blocks: 6, sae_width: 128, sae_k: 4, sae_steps: 60, sae_batch: 128,
                 repair_steps: 40, min_auroc: 0.55, judge_model: self, n_prompts: 3, max_new_tokens: 6}
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("indiff")
    config = tmp / "c.yaml"
    config.write_text(TINY)
    out = tmp / "run"
    execute(make_plan("indifference", ["tiny-llama"], out, config_file=config, profile="quick"), quiet=True)
    return out


def summary_of(run: Path, model: str) -> dict[str, Any]:
    return json.loads((run / "summary.json").read_text())["indifference"][model]


def test_every_contract_metric_is_there_and_valid(tiny_run: Path) -> None:
    summary = summary_of(tiny_run, "tiny-llama")
    for name in CONTRACT:
        assert name in summary, name
    for name, entry in summary.items():
        check_metric(name, entry, "indifference/tiny-llama")
    for name in CONTRACT[:5]:
        assert summary[name]["estimate"] is not None, (name, summary[name])
        assert summary[name]["layer"] == summary["virtue_vice_cosine"]["layer"]
    # a random tiny model cannot pass the judge gate, so nothing is judged and the note says why
    assert summary["judged_win_rate"]["estimate"] is None
    assert "gate" in summary["judged_win_rate"]["note"]


def test_tables_and_figures_are_saved(tiny_run: Path) -> None:
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    out = manifest["outputs"]["indifference"]
    tables = {t["name"] for t in out["tables"]}
    assert {"items", "load_report", "diagnostics", "layer_curves", "sae_training", "moral_features",
            "judge_gate", "model_comparison"} <= tables  # fmt: skip
    figures = {f["name"] for f in out["figures"]}
    assert {"layer_curves"} <= figures
    findings = manifest["studies"]["indifference"]["findings"]["tiny-llama"]
    assert any(s.startswith("Categorical") for s in findings)
    assert any(s.startswith("Behaviour: not judged") for s in findings)


def test_halves_never_share_a_lemma_and_the_sae_never_saw_half_b(tiny_run: Path) -> None:
    got = read_unit(next(p.parent for p in tiny_run.rglob("unit.json") if p.parent.name == "items"))
    assert got is not None
    table = got[0].tables["items"]
    sides = table.groupby("lemma")["half"].nunique()
    assert (sides == 1).all()
    assert set(table["half"]) == {"A", "B"}


def test_carrier_must_end_with_the_item() -> None:
    with pytest.raises(ValueError, match="at its end"):
        IndifferenceConfig(carrier="{item} is a word")
    assert IndifferenceConfig(carrier="Word: {item}").carrier == "Word: {item}"


class OracleJudge:
    """Knows the shipped pairs' better answers; otherwise prefers the longer answer (position-free)."""

    name = "oracle"

    def __init__(self) -> None:
        from valuescope.instruments.pairwise_judge import load_judge_pairs

        self.better = set(load_judge_pairs()["better"])

    def rate(self, prompts: list[str], options: list[str], batch_size: int = 8) -> pd.DataFrame:
        p = []
        for text in prompts:
            a = text.split("Response A: ", 1)[1].split("\n\nResponse B: ", 1)[0]
            b = text.split("\n\nResponse B: ", 1)[1].rsplit("\n\nWhich response", 1)[0]
            if a in self.better or b in self.better:
                p.append(0.8 if a in self.better else 0.2)
            else:
                p.append(0.7 if len(a) > len(b) else 0.3)
        return pd.DataFrame({"prompt": prompts, "p_A": p, "p_B": [1 - x for x in p]})


def test_a_local_judge_is_gated_once_per_run_and_a_judge_without_a_manifest_entry_every_time() -> None:
    from valuescope.instruments.pairwise_judge import PairwiseJudge
    from valuescope.models.loader import ModelInfo
    from valuescope.studies.indifference.behaviour import gate_of

    class Counting(OracleJudge):
        rated = 0  # prompts rated: every gate of an oracle rates all 24 pairs in both orders

        @classmethod
        def gates(cls) -> float:
            return cls.rated / 48

        def rate(self, prompts: list[str], options: list[str], batch_size: int = 8) -> pd.DataFrame:
            type(self).rated += len(prompts)
            return super().rate(prompts, options, batch_size)

    local = Counting()
    local.info = ModelInfo(name="oracle", source="/nowhere/oracle-weights")  # type: ignore[attr-defined]
    first = gate_of(PairwiseJudge(local), 0.8, 0.75)
    again = gate_of(PairwiseJudge(Counting()), 0.8, 0.75)  # no manifest entry: gated again
    assert Counting.gates() == 2 and first == again and first.passed
    twin = Counting()
    twin.info = ModelInfo(name="oracle", source="/nowhere/oracle-weights")  # type: ignore[attr-defined]
    assert gate_of(PairwiseJudge(twin), 0.8, 0.75) is first and Counting.gates() == 2
    gate_of(PairwiseJudge(twin), 0.9, 0.75)  # other thresholds: gated again
    assert Counting.gates() == 3


def test_a_judge_that_passes_the_gate_judges_repaired_answers(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from valuescope.studies.indifference import behaviour

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "units" / "indifference" / "tiny-llama" / "behaviour")
    monkeypatch.setattr(behaviour, "judge_of", lambda ctx: OracleJudge())
    config = tmp_path / "c.yaml"
    config.write_text(TINY)
    execute(make_plan("indifference", ["tiny-llama"], run, config_file=config, profile="quick"), quiet=True)
    win = summary_of(run, "tiny-llama")["judged_win_rate"]
    check_metric("judged_win_rate", win, "indifference/tiny-llama")
    assert win["estimate"] is not None and 0 <= win["estimate"] <= 1
    assert win["n"] == 3
    answers = list((run / "units" / "indifference" / "tiny-llama" / "behaviour").rglob("*.jsonl"))
    assert answers, "the unedited and repaired answers are saved"


@pytest.mark.real
def test_gemma_quick_run_reads_every_diagnostic(tmp_path: Path) -> None:
    out = tmp_path / "run"
    execute(make_plan("indifference", ["gemma-3-270m"], out, profile="quick"), quiet=True)
    summary = summary_of(out, "gemma-3-270m")
    for name in CONTRACT:
        check_metric(name, summary[name], "indifference/gemma-3-270m")
    for name in (*CONTRACT[:5], "sae_fve", "sae_l0", "n_moral_features", "repair_kl"):
        assert summary[name]["estimate"] is not None, (name, summary[name])
    assert -1 <= summary["virtue_vice_cosine"]["estimate"] <= 1
    assert 0 < summary["sae_fve"]["estimate"] <= 1
    win = summary["judged_win_rate"]
    assert win["estimate"] is not None or "gate" in win["note"]
    # the repair's controls either state their null's draws and spread or say why they are not computable
    for name in ("random_edit_virtue_vice_cosine", "random_edit_typicality_spearman"):
        entry = summary[name]
        assert (
            ("draws" in entry["note"])
            if entry["estimate"] is not None
            else ("not computable" in entry["note"])
        )


def test_a_pretrained_sae_in_saelens_layout_replaces_training(tmp_path: Path) -> None:
    import torch
    from conftest import get_model

    from valuescope.studies.indifference.sae_io import save_sae
    from valuescope.studies.indifference.sae_model import SAE

    d = get_model("tiny-llama").d_model
    g = torch.Generator().manual_seed(0)
    sae = SAE(
        W_enc=torch.randn(d, 96, generator=g),
        b_enc=torch.zeros(96),
        W_dec=torch.randn(96, d, generator=g),
        b_dec=torch.zeros(d),
        architecture="topk",
        k=4,
        metadata={"hook_name": "blocks.0.hook_resid_post"},
    )
    folder = save_sae(sae, tmp_path / "sae")
    run = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text(TINY.replace("judge_model: self", f"judge_model: null, sae: {folder}"))
    execute(make_plan("indifference", ["tiny-llama"], run, config_file=config, profile="quick"), quiet=True)
    summary = summary_of(run, "tiny-llama")
    assert summary["sae_fve"]["layer"] == 1  # blocks.0.hook_resid_post is read point 1
    assert "pretrained" in summary["sae_fve"]["note"]
    assert summary["judged_win_rate"]["estimate"] is None


def test_social_chem_ground_truth_read_as_bare_text(tmp_path: Path) -> None:
    from valuescope.data.moral_items import FOUNDATIONS

    long_names = {
        "care": "care-harm", "fairness": "fairness-cheating", "loyalty": "loyalty-betrayal",
        "authority": "authority-subversion", "sanctity": "sanctity-degradation",
    }  # fmt: skip
    header = (
        "area\tm\tsplit\trot-agree\trot-categorization\trot-moral-foundations\trot-char-targeting\trot-bad\t"
        "rot-judgment\taction\taction-agency\taction-moral-judgment\taction-agree\taction-legal\t"
        "action-pressure\taction-char-involved\taction-hypothetical\tsituation\tsituation-short-id\trot\t"
        "rot-id\trot-worker-id\tbreakdown-worker-id\tn-characters\tcharacters"
    )
    lines = [header]
    for f in FOUNDATIONS:
        for pole, sign in (("virtue", 1), ("vice", -1)):
            for i in range(8):
                action = f"{pole} act number {i} concerning {f}"
                cells = dict.fromkeys(header.split("\t"), "")
                cells.update(
                    {"rot-moral-foundations": long_names[f], "rot-bad": "0", "action": action, "rot": action,
                     "action-moral-judgment": f"{sign * (1 + i % 2)}.0", "action-agree": "4.0",
                     "rot-agree": "4.0"}
                )  # fmt: skip
                lines.append("\t".join(cells[c] for c in header.split("\t")))
    tsv = tmp_path / "sc.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        "studies:\n  indifference: {lexicon: social-chem, social_chem: " + str(tsv) + ", carrier: null, "
        "neutral_ratio: 0.5, n_blocks: 5, sae_width: 64, sae_k: 4, sae_steps: 30, sae_batch: 64, "
        "repair_steps: 20, min_auroc: 0.55, judge_model: null}\n"
    )
    out = tmp_path / "run"
    execute(make_plan("indifference", ["tiny-llama"], out, config_file=config, profile="quick"), quiet=True)
    summary = summary_of(out, "tiny-llama")
    for name in CONTRACT:
        check_metric(name, summary[name], "indifference/tiny-llama")
    assert summary["n_moral_lemmas"]["estimate"] == 80
    assert summary["virtue_vice_cosine"]["estimate"] is not None
