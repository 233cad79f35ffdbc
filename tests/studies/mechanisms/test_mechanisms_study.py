"""The mechanisms study end to end: mechanics on a tiny model, a user corpus, bad input, findings,
and the real embedded models' quick runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.stats.metrics import BELOW_GATE, check_metric
from valuescope.studies.mechanisms.findings import model_findings
from valuescope.studies.mechanisms.responses import load_corpus, render

CONTRACT = (
    "intrinsic_prompted_cosine", "steering_shift_intrinsic", "steering_shift_prompted",
    "steering_shift_shared",
    "steering_shift_random", "distinct2_intrinsic", "distinct2_prompted", "circumplex_fit_theory",
    "circumplex_fit_human", "value_neurons_shared_fraction", "labeller_agreement",
    "dose_gain_intrinsic", "dose_gain_prompted", "dose_gain_shared", "dose_gain_random",
    "dose_excess_prompted", "dose_prompted_minus_intrinsic",
    *(f"crosslingual_probe_auroc_{lang}" for lang in ("en", "zh", "es", "fr", "ko")),
    *(f"crosslingual_steering_ratio_{lang}" for lang in ("zh", "es", "fr", "ko")),
    *(
        f"compliance_{task}_shift_{part}"
        for task in ("instruction", "overrefusal")
        for part in ("prompted_only", "intrinsic_only")
    ),
)  # fmt: skip
TINY = """
studies:
  mechanisms: {n_queries: 16, max_new_tokens: 12, min_positive: 3, n_boot: 40, n_perm: 30, n_noise: 3,
               damage_texts: 4, diversity_queries: 3, alpha_rule: fixed, alpha: 1.0,
               dose_kl: [0.004, 0.01], compliance_values: 2}
"""


def figures(entry: dict) -> dict:
    """A metric's computed figures, also where it reads as below its instrument's gate."""
    return entry.get("ungated", entry)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("mech")
    config = tmp / "c.yaml"
    config.write_text(TINY)
    out = tmp / "run"
    execute(make_plan("mechanisms", ["tiny-llama"], out, config_file=config, profile="quick"), quiet=True)
    return out


def test_every_contract_metric_is_there_and_valid(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())["mechanisms"]["tiny-llama"]
    for name in CONTRACT:
        assert name in summary, name
    for name, entry in summary.items():
        check_metric(name, entry, "mechanisms/tiny-llama")
    for name in CONTRACT:
        if name not in ("circumplex_fit_human", "labeller_agreement"):
            assert figures(summary[name])["estimate"] is not None, (name, summary[name])
    if os.environ.get("VALUESCOPE_DATA"):
        assert figures(summary["circumplex_fit_human"])["estimate"] is not None
        assert summary["labeller_agreement"]["estimate"] is not None


def test_metrics_from_the_labels_read_as_below_the_labellers_gate(tiny_run: Path) -> None:
    """The shipped head labeller fails its gate (Touché23 macro AUROC 0.73 < 0.85): every metric computed
    from its labels says so instead of giving an estimate; the metrics not resting on it are untouched."""
    summary = json.loads((tiny_run / "summary.json").read_text())["mechanisms"]["tiny-llama"]
    gated = summary["intrinsic_prompted_cosine"]
    assert gated["estimate"] is None and gated["ungated"]["estimate"] is not None
    assert gated["note"].startswith(f"{BELOW_GATE}: value-labeller: touche23: macro auroc 0.73")
    assert summary["n_responses"]["estimate"] is not None and "ungated" not in summary["n_responses"]
    assert "ungated" not in summary["self_rating_option_mass_valuescope"]
    status = json.loads((tiny_run / "instruments.json").read_text())
    assert status["below_gate"]["value-labeller"] in gated["note"]
    findings = json.loads((tiny_run / "manifest.json").read_text())["studies"]["mechanisms"]["findings"]
    text = " ".join(findings["tiny-llama"])
    assert f"Shared components: not reported as a result: {BELOW_GATE}: value-labeller" in text
    assert f"Steering strength: not reported as a result: {BELOW_GATE} (as above)." in text
    assert "reproduced" not in text


def test_tables_tensors_and_generations_are_saved(tiny_run: Path) -> None:
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    out = manifest["outputs"]["mechanisms"]
    tables = {t["name"] for t in out["tables"]}
    assert {"responses", "label_counts", "vector_cosines", "circumplex", "neuron_counts", "steering",
            "steering_damage", "diversity", "self_ratings"} <= tables  # fmt: skip
    tensors = {n for t in out["tensors"] for n in t["names"]}
    assert {"intrinsic_vectors", "prompted_vectors", "shared_axes", "value_neurons"} <= tensors
    figures = {f["name"] for f in out["figures"]}
    assert {"vector_cosines", "circumplex", "steering"} <= figures
    generations = list(tiny_run.rglob("*.jsonl"))
    assert generations, "generations are saved as JSONL"
    first = json.loads(generations[0].read_text().splitlines()[0])
    assert {"query", "response"} <= set(first)


def test_compliance_edits_values_one_by_one(tiny_run: Path) -> None:
    table = pd.read_json(
        next(tiny_run.rglob("mechanisms/*/compliance/tables/compliance_values.json")), orient="table"
    )
    assert len(table) == 2 * 2  # two values, each with its prompted-only and intrinsic-only part
    assert set(table["component"]) == {"prompted_only", "intrinsic_only"}
    assert table["value"].nunique() == 2 and set(table["value"]) <= set(SCHWARTZ_VALUES)
    assert ((table["rate"] >= 0) & (table["rate"] <= 1)).all()
    assert (table["change_low"] <= table["change"]).all() and (table["change"] <= table["change_high"]).all()
    assert (table["kl"] >= 0).all() and table["p_vs_random"].between(0, 1).all()


def test_findings_are_in_the_manifest_and_report(tiny_run: Path) -> None:
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    findings = manifest["studies"]["mechanisms"]["findings"]["tiny-llama"]
    assert any(s.startswith("Shared components") for s in findings)
    from html import escape

    from valuescope.report import write_report

    html = write_report(tiny_run).read_text()
    assert "<h3>Findings</h3>" in html and escape(findings[0], quote=True) in html


def test_prompted_responses_cover_every_value_and_conditions(tiny_run: Path) -> None:
    import pandas as pd

    path = next(tiny_run.rglob("*responses*.csv"), None) or next(tiny_run.rglob("*responses*.parquet"))
    table = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    prompted = table[table["condition"] == "prompted"]
    assert set(prompted["framed_value"]) == set(SCHWARTZ_VALUES)
    assert (table["condition"] == "intrinsic").sum() == 16 * 2


def test_quick_steers_three_values_spread_round_the_circle(tiny_run: Path) -> None:
    """Every kind of edit, its controls and the diversity answers cover the same steered values; every
    value's statements are still read under each edit."""
    import pandas as pd

    from valuescope.studies.mechanisms.steering_edits import steered_values

    assert steered_values(10) == list(range(10))
    assert steered_values(4) == [0, 2, 5, 7] and steered_values(3) == [0, 3, 6]
    chosen = {SCHWARTZ_VALUES[i] for i in steered_values(3)}
    tables = tiny_run / "tables"
    steering = pd.read_csv(next(tables.glob("mechanisms__*__steering.csv")))
    assert (steering.groupby("kind")["value"].apply(set) == chosen).all()
    damage = pd.read_csv(next(tables.glob("mechanisms__*__steering_damage.csv")))
    assert set(damage["value"]) == chosen and len(damage) == 3 * damage["kind"].nunique()
    deltas = pd.read_csv(next(tables.glob("mechanisms__*__steering_deltas.csv")))
    assert set(deltas["steered_value"]) == chosen and set(deltas["item_value"]) == set(SCHWARTZ_VALUES)
    diversity = pd.read_csv(next(tables.glob("mechanisms__*__diversity.csv")))
    assert set(diversity.loc[diversity["kind"] != "none", "value"]) == chosen
    summary = json.loads((tiny_run / "summary.json").read_text())["mechanisms"]["tiny-llama"]
    assert "3 of the ten values steered" in figures(summary["steering_shift_prompted"])["note"]
    assert summary["steering_neighbour_response_prompted"]["n"] == 3


def test_a_base_model_reads_question_answer_and_a_chat_model_its_template() -> None:
    from tests.conftest import get_model

    base = get_model("tiny-llama")
    assert render(base, "Why?", None) == "Question: Why?\nAnswer:"
    assert render(base, "Why?", "Care for others.") == "Care for others.\n\nQuestion: Why?\nAnswer:"


def test_a_user_corpus_with_labels_is_checked(tmp_path: Path) -> None:
    head = "query_id,query,condition,response," + ",".join(
        v.replace("_", "-").title() for v in SCHWARTZ_VALUES
    )
    good = tmp_path / "c.csv"
    good.write_text(head + "\n" + "q1,Why?,intrinsic,Because.," + ",".join(["0"] * 10) + "\n")
    corpus = load_corpus(str(good))
    assert f"label_{SCHWARTZ_VALUES[0]}" in corpus.columns
    bad = tmp_path / "bad.csv"
    bad.write_text(head + "\n" + "q1,Why?,sometimes,Because.," + ",".join(["0"] * 10) + "\n")
    with pytest.raises(ValueError, match=r"row 2, column 'condition'"):
        load_corpus(str(bad))
    unknown = tmp_path / "u.csv"
    unknown.write_text("query_id,query,condition,response,Kindness\nq1,Why?,intrinsic,Because.,1\n")
    with pytest.raises(ValueError, match="Kindness"):
        load_corpus(str(unknown))


def test_findings_claim_only_what_the_intervals_support() -> None:
    def m(est: float, lo: float, hi: float, p: float | None = None, layer: int | None = None) -> dict:
        out = {"estimate": est, "ci_low": lo, "ci_high": hi, "p": p, "n": 10}
        return out | ({"layer": layer} if layer is not None else {})

    metrics = {
        "intrinsic_prompted_cosine": m(0.6, 0.5, 0.7, 0.001, 6),
        "intrinsic_prompted_cosine_excess": m(0.3, 0.2, 0.4),
        "intrinsic_prompted_reliability_ceiling": m(0.9, 0.85, 0.95),
        "steering_shift_prompted": m(0.3, 0.1, 0.5, 0.01),
        "steering_shift_intrinsic": m(0.2, 0.0, 0.4, 0.2),
        "steering_shift_random": m(0.0, -0.1, 0.1),
        "steering_shift_prompted_minus_intrinsic": m(0.1, -0.1, 0.3, 0.4),
    }
    text = " ".join(model_findings(metrics))
    assert "Shared components" in text and "values; reproduced" in text
    assert "prompted vectors steer more strongly: not reproduced" in text


def test_steering_reads_a_third_reverse_keyed_subset_of_the_statements() -> None:
    from valuescope.studies.mechanisms.self_ratings import balanced_subset
    from valuescope.studies.mechanisms.stimuli import load_statements

    every = load_statements()
    three = balanced_subset(every, 3)
    assert len(three) == 30 and three.groupby("value")["reverse"].sum().eq(1).all()
    assert len(balanced_subset(every, 100)) == len(every)


@pytest.mark.real
def test_a_chat_model_reads_its_template_with_one_bos(smollm) -> None:  # type: ignore[no-untyped-def]
    from valuescope.readout.batching import encode
    from valuescope.studies.mechanisms.vectors import reading_item

    framed = render(smollm, "Should I move abroad?", "Value tradition above all.")
    plain = render(smollm, "Should I move abroad?", None)
    assert "Value tradition above all." in framed and "tradition" not in plain
    assert plain.rstrip().endswith("assistant")
    context, text = reading_item(smollm, "Should I move abroad?", "Think about your family.")
    enc = encode(smollm.tokenizer, (context, text))
    decoded = smollm.tokenizer.decode([i for i, m in zip(enc.ids, enc.span_mask, strict=True) if m])
    assert decoded.strip() == "Think about your family."
    bos = smollm.tokenizer.bos_token_id
    assert enc.ids[:2] != [bos, bos], "the template's BOS and the tokenizer's must not both be there"
    assert smollm.tokenizer.decode(enc.ids).count("You are a helpful") <= 1


@pytest.mark.real
def test_gemma_quick_run_gives_every_contract_metric(tmp_path: Path) -> None:
    """Quick profile on the real embedded Gemma-3-270M: finite estimates for every contract metric
    (those that need the shared data only when VALUESCOPE_DATA is set)."""
    out = tmp_path / "run"
    execute(make_plan("mechanisms", ["gemma-3-270m"], out, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())["mechanisms"]["gemma-3-270m"]
    needs_data = ("circumplex_fit_human", "labeller_agreement")
    for name in CONTRACT:
        if name in needs_data and not os.environ.get("VALUESCOPE_DATA"):
            continue
        assert figures(summary[name])["estimate"] is not None, (name, summary[name].get("note"))
    damage = json.loads((out / "manifest.json").read_text())
    assert damage["studies"]["mechanisms"]["findings"]["gemma-3-270m"]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [("framings_per_query", 11, "less than or equal to 10"), ("neuron_angle", 95, "less than 90"),
     ("n_queries", 2, "greater than or equal to 4"), ("labeller", "magic", "embedding")],
)  # fmt: skip
def test_a_bad_config_names_the_key(tmp_path: Path, key: str, value: object, fragment: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"studies:\n  mechanisms: {{{key}: {value}}}\n")
    with pytest.raises(ValueError, match=f"{key}.*{fragment}"):
        make_plan("mechanisms", ["tiny-llama"], tmp_path / "o", config_file=config)


@pytest.mark.parametrize(
    ("labeller", "source"),
    [("judge", "judge (tiny-gpt2)"), ("head", "value-labeller")],
)
def test_each_labeller_runs_through_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, labeller: str, source: str
) -> None:
    """labeller: judge asks the model under study Yes/No for every (answer, value); labeller: head scores
    responses with the shipped Touché23 heads (threshold: logit 0)."""
    monkeypatch.delenv("VALUESCOPE_DATA", raising=False)  # ValuePortrait's posts overflow a tiny model
    config = tmp_path / "c.yaml"
    config.write_text(
        f"studies:\n  mechanisms: {{n_queries: 8, max_new_tokens: 6, min_positive: 2, labeller: {labeller},\n"
        "    n_boot: 20, n_perm: 10, n_noise: 2, damage_texts: 2, diversity_queries: 2,\n"
        "    steer_statements: 1, alpha_rule: fixed}\n"
    )
    out = tmp_path / "run"
    execute(make_plan("mechanisms", ["tiny-gpt2"], out, config_file=config, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())["mechanisms"]["tiny-gpt2"]
    assert source in summary["n_label_fallbacks"]["note"]
    assert summary["labeller_agreement"]["estimate"] is None and summary["labeller_agreement"]["note"]


def test_the_gate_follows_the_labeller_the_labels_came_from() -> None:
    from valuescope.runs.outputs import gate_instrument_metrics
    from valuescope.stats.metrics import metric
    from valuescope.studies.mechanisms import Mechanisms, MechanismsConfig
    from valuescope.studies.protocol import Artifacts

    study, config = Mechanisms(), MechanismsConfig()
    verdicts = {"value-labeller": "touche23: macro auroc 0.73"}

    def gated(labelled_by: str | None, verdicts: dict) -> bool:
        art = Artifacts(metrics={"intrinsic_prompted_cosine": metric(0.3, 0.1, 0.5)},
                        data={"labelled_by": labelled_by})  # fmt: skip
        gate_instrument_metrics(study, config, art, verdicts)
        return art.metrics["intrinsic_prompted_cosine"]["estimate"] is None

    assert gated("head", verdicts)
    assert not gated("head", {"value-labeller": None})  # the head passes: a result
    assert gated("embedding", {"value-labeller": None})  # not validated: never a result
    assert not gated(None, verdicts)  # the corpus's own labels: no instrument


def test_user_trained_heads_are_gated_by_the_validity_table_beside_them(tmp_path: Path) -> None:
    import shutil
    from importlib import resources

    from valuescope.instruments.heads import load_heads
    from valuescope.runs.outputs import file_verdicts, gate_instrument_metrics
    from valuescope.stats.metrics import metric
    from valuescope.studies.mechanisms import Mechanisms, MechanismsConfig
    from valuescope.studies.protocol import Artifacts

    shipped = resources.files("valuescope.instruments").joinpath("heads")
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("touche23-minilm.safetensors", "validity.csv"):
        shutil.copyfile(str(shipped.joinpath(name)), mine / name)
    assert load_heads(mine, "touche23").dimensions[0] == "Self-direction: thought"
    study, config = Mechanisms(), MechanismsConfig(labeller_heads=str(mine))

    def gated() -> dict:
        art = Artifacts(
            metrics={"intrinsic_prompted_cosine": metric(0.3, 0.1, 0.5)}, data={"labelled_by": "head"}
        )
        gate_instrument_metrics(study, config, art, file_verdicts(study.validity_files(config)))
        return art.metrics["intrinsic_prompted_cosine"]

    assert gated()["note"].startswith(f"{BELOW_GATE}: value-labeller ({mine}): touche23: macro auroc 0.732")
    table = (mine / "validity.csv").read_text().replace(",False\n", ",True\n")
    (mine / "validity.csv").write_text(table)  # heads whose table says they pass: a result
    assert gated()["estimate"] == 0.3
    (mine / "validity.csv").unlink()
    assert "could not be read" in gated()["note"]
    with pytest.raises(ValueError, match="exactly one touche23"):
        load_heads(tmp_path, "touche23")
