"""A run with an API model served by a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from llama_server import free_port, llama_server, require_llama_server

from valuescope.models.registry import REGISTRY
from valuescope.runs.config import ConfigError, make_plan
from valuescope.runs.execute import execute

SECRET = "sk-test-0123456789abcdef"


READOUT = "readout-check: {n_pairs: 8, n_boot: 200, n_perm: 50, folds: 4, n_random: 1, min_n_per_cell: 4}"


def config(tmp_path: Path, base_url: str, studies: str = READOUT) -> Path:
    """A run file with the served model as ``smol-api`` and ``studies`` (YAML lines) as its studies."""
    path = tmp_path / "api.yaml"
    body = "".join(f"  {line}\n" for line in studies.strip().splitlines())
    path.write_text(
        f"""
api_models:
  smol-api:
    base_url: "{base_url}"
    model: smollm2
    api_key_env: VALUESCOPE_TEST_KEY
    cache_dir: "{tmp_path / "cache"}"
studies:
{body}"""
    )
    return path


@contextmanager
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studies: str = READOUT) -> Iterator[Path]:
    """SmolLM2 served by llama.cpp on loopback for the block, and a run file naming it ``smol-api``."""
    require_llama_server()
    monkeypatch.setenv("VALUESCOPE_TEST_KEY", SECRET)
    with llama_server(REGISTRY["smollm2-135m-instruct"].locate(), tmp_path) as url:
        yield config(tmp_path, url, studies)


@pytest.mark.real
def test_api_models_run_behaviour_steps_and_skip_internals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served(tmp_path, monkeypatch) as path:
        out = tmp_path / "run"
        plan = make_plan("readout-check", ["tiny-gpt2", "smol-api"], out, config_file=path,
                         profile="quick")  # fmt: skip
        execute(plan, quiet=True)
    summary = json.loads((out / "summary.json").read_text())["readout-check"]
    assert {"rating_gap", "direction_accuracy"} <= set(summary["tiny-gpt2"])
    assert "rating_gap" in summary["smol-api"] and "direction_accuracy" not in summary["smol-api"]
    assert "rating_gap_difference" in summary["_all"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"]["smol-api"]["family"] == "api"
    skipped = [t for t in manifest["timings"] if t["model"] == "smol-api" and t["status"] == "skipped"]
    assert {t["step"] for t in skipped} == {"direction", "ablation"}
    for path in [*out.rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the API key leaked into {path}"


def test_an_unreachable_server_fails_before_any_model_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALUESCOPE_TEST_KEY", SECRET)
    url = f"http://127.0.0.1:{free_port()}/v1"
    plan = make_plan("readout-check", ["smol-api"], tmp_path / "run", config_file=config(tmp_path, url))
    with pytest.raises(ConfigError, match=r"api_models\.smol-api: cannot reach .*127\.0\.0\.1"):
        execute(plan, quiet=True)
    assert not (tmp_path / "run").exists()


def test_a_bad_api_model_entry_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("api_models:\n  x: {base_url: 'http://127.0.0.1:1/v1', model: m, colour: red}\n")
    with pytest.raises(ConfigError, match=r"api_models\.x: colour: unknown key"):
        make_plan("readout-check", ["x"], tmp_path / "run", config_file=path)


@pytest.mark.real
def test_a_served_model_judges_through_the_indifference_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study config names an API model of the run file as its judge; the gate runs through the server,
    and with the gate's thresholds at 0 (SmolLM2-135M does not pass the real ones) the repaired and
    base answers are judged through it and the win rate is computed."""
    studies = (
        "indifference: {max_lemmas: 60, n_blocks: 5, sae_width: 64, sae_k: 4, sae_steps: 20, "
        "sae_batch: 64, repair_steps: 10, min_auroc: 0.55, judge_model: smol-api, n_prompts: 2, "
        "max_new_tokens: 4, min_consistency: 0, min_accuracy: 0}\n"
    )
    with served(tmp_path, monkeypatch, studies) as path:
        out = tmp_path / "run"
        execute(make_plan("indifference", ["tiny-llama"], out, config_file=path, profile="quick"), quiet=True)
    gate = next(out.rglob("indifference__tiny-llama__judge_gate.csv")).read_text()
    assert "smol-api" in gate and "consistency" in gate
    win = json.loads((out / "summary.json").read_text())["indifference"]["tiny-llama"]["judged_win_rate"]
    assert win["estimate"] is not None, win
    judged = pd.read_csv(next(out.rglob("indifference__tiny-llama__judgements.csv")))
    assert len(judged) == 2 and judged["p_first"].between(0, 1).all()


@pytest.mark.real
def test_a_served_chat_model_is_elicited_and_profiled_in_the_lexicon_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Elicitation (with the list system message) and stem completions go through the server's chat
    endpoint; the served model's raw answers are saved beside an in-process model's."""
    studies = (
        "lexicon: {samples: 2, n_prompts: 4, max_new_tokens: 24, completion_tokens: 10, "
        "n_boot: 50, n_perm: 50}\n"
    )
    with served(tmp_path, monkeypatch, studies) as path:
        out = tmp_path / "run"
        execute(
            make_plan("lexicon", ["tiny-gpt2", "smol-api"], out, config_file=path, profile="quick"),
            quiet=True,
        )
    summary = json.loads((out / "summary.json").read_text())["lexicon"]
    assert summary["smol-api"]["n_responses"]["estimate"] == 8
    assert summary["smol-api"]["n_model_terms"]["estimate"] > 0  # a real chat model names some values
    assert all(f"profile_{s}" in summary["smol-api"] for s in ("social", "ethical"))
    records = [
        json.loads(line)
        for line in next(out.rglob("lexicon__smol-api__elicitation.jsonl")).read_text().splitlines()
    ]
    assert records[0]["system"] and records[0]["generated"]


@pytest.mark.real
def test_a_served_judge_is_validated_on_touche_pairs_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """`valuescope instruments validate --judge smol-api --config run.yaml` asks the server (2 pairs per
    category, both orders: 80 judgements) and reports the judge's rows beside the other instruments."""
    from typer.testing import CliRunner

    from valuescope.cli import app

    with served(tmp_path, monkeypatch) as path:
        result = CliRunner().invoke(app, ["instruments", "validate", "--data", str(shared_data), "--json",
                                          "--n-boot", "50", "--judge", "smol-api", "--config", str(path),
                                          "--judge-pairs", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    judge = {(r["metric"], r["dimension"]): r for r in records if r["instrument"] == "judge"}
    assert judge[("accuracy", "macro")]["n"] == 40 and judge[("consistency", "macro")]["n"] == 40
    assert 0 <= judge[("accuracy", "macro")]["estimate"] <= 1
    assert SECRET not in result.output


@pytest.mark.real
def test_the_atlas_on_a_served_model_uses_the_methods_without_internals_and_says_what_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run atlas` on an API model: the mechanisms study's behaviour steps run through the server, the
    agreement matrix is built from self-ratings and the labeller only (its methods table names the
    residuals as skipped, and why), and the side-effects step, which edits activations, is skipped."""
    studies = (
        "mechanisms: {n_queries: 8, max_new_tokens: 8, min_positive: 2, n_boot: 40, n_perm: 30}\n"
        "atlas: {n_boot: 60, n_perm: 40}\n"
    )
    with served(tmp_path, monkeypatch, studies) as path:
        out = tmp_path / "run"
        plan = make_plan("atlas", ["smol-api"], out, config_file=path, profile="quick")
        assert list(plan.configs) == ["mechanisms", "atlas"]
        execute(plan, quiet=True)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_units"] == [], json.dumps(summary["failed_units"])[:3000]
    atlas = summary["atlas"]["smol-api"]
    assert {"mtmm_convergent", "mtmm_discriminant", "mtmm_criteria_share"} <= set(atlas)
    unit = out / "units" / "atlas" / "smol-api" / "agreement" / "tables"
    methods = pd.read_json(unit / "methods.json", orient="table").set_index("method")
    assert "internals" in str(methods.loc["residuals", "note"]) and not methods.loc["residuals", "used"]
    assert methods.loc["labeller", "used"]
    # SmolLM2 on the chat endpoint puts few of the six digits in its top 20 log-probabilities: the
    # ratings that miss some are dropped, and the table and every MTMM note say so
    rating = methods.loc["self_rating"]
    assert rating["used"] or "top log-probabilities" in str(rating["note"]), rating
    profile = pd.read_json(unit / "value_profile.json", orient="table").set_index("value")
    mechanisms = out / "units" / "mechanisms" / "smol-api"
    rated = pd.read_json(mechanisms / "self_ratings" / "tables" / "self_ratings.json", orient="table")
    own = rated[rated["questionnaire"] == "valuescope"]
    complete = own[own["n_missing_options"] == 0].groupby("value").size()
    assert (own["n_missing_options"] > 0).any()  # SmolLM2's top 20 log-probabilities miss some options
    assert profile["n"].to_dict() == complete.reindex(profile.index, fill_value=0).to_dict()  # no partial one
    for name in ("mtmm_convergent", "mtmm_discriminant", "mtmm_criteria_share"):
        told = json.dumps(atlas[name])
        assert "residuals: needs the model's internals" in told, told
        assert atlas[name]["estimate"] is not None or "not computable" in told
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = {(t["study"], t["step"]) for t in manifest["timings"] if t["status"] == "skipped"}
    assert ("atlas", "side_effects") in skipped and ("mechanisms", "vectors") in skipped
