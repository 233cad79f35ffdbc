"""The lexicon study on real text: the embedded models' recorded demo generations, replayed. Every
contract metric must be finite at the demo profile (the acceptance check), and the figures and findings
must be drawn from it."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from lexicon_replay import FIXTURE, load_fixture

from valuescope.data.sources import DataSources
from valuescope.data.valuelex import SUBDIMENSIONS
from valuescope.stats.metrics import ALL_MODELS, check_metric
from valuescope.studies.lexicon import Lexicon, LexiconConfig
from valuescope.studies.lexicon.elicit import elicit_step
from valuescope.studies.lexicon.profiles import projective_step
from valuescope.studies.protocol import Artifacts, Result

ACROSS = ("n_terms", "n_clusters", "n_factors", "kmo", "taxonomy_agreement")


def _merge(*parts: Artifacts) -> Artifacts:
    out = Artifacts()
    for a in parts:
        out.tables.update(a.tables)
        out.metrics.update(a.metrics)
        out.generations.update(a.generations)
        out.data.update(a.data)
    return out


def _run(models: dict[str, Any], profile: str = "demo") -> Result:
    cfg = LexiconConfig.for_profile(profile)
    assert isinstance(cfg, LexiconConfig)
    per_model: dict[str, Artifacts] = {}
    for name, lm in models.items():
        ctx: Any = SimpleNamespace(config=cfg, lm=lm, seed=0, progress=False, data=DataSources(None))
        per_model[name] = _merge(elicit_step(ctx), projective_step(ctx))
    study = Lexicon()
    per_model[ALL_MODELS] = study.compare(per_model, cfg, 0)
    res = Result("lexicon", cfg, per_model)
    res.findings = study.findings(res)
    res.figures = study.make_figures(res)
    return res


@pytest.fixture(scope="module")
def result() -> Result:
    return _run(dict(load_fixture()))


class Canned:
    """A chat model that gives the same text to every prompt."""

    instruct = True

    def __init__(self, text: str) -> None:
        self.text = text

    def generate(self, prompts: list[str], **kwargs: Any) -> list[str]:
        return [self.text] * len(prompts)


@pytest.mark.parametrize("text", ["", "I am not sure what you mean by that, sorry.", "1. 2. 3. ???"])
def test_models_that_name_no_value_get_notes_not_numbers(text: str) -> None:
    res = _run({"a": Canned(text), "b": Canned(text)}, profile="quick")
    across = res.per_model[ALL_MODELS].metrics
    for name in ACROSS:
        check_metric(name, across[name], "lexicon/_all")
    for name in ACROSS[1:]:
        assert across[name]["estimate"] is None and across[name]["note"], name
    assert across["n_terms"]["estimate"] == 0
    assert "no value term" in res.per_model["a"].metrics["n_model_terms"]["note"]
    assert all(res.findings[m] for m in res.per_model)  # findings say what is missing
    plt.close("all")


def test_a_matrix_too_small_for_factor_analysis_is_reported(result: Result) -> None:
    """Two responses, each naming different values: terms and clusters exist, factors cannot."""
    res = _run({"a": Canned("honesty, kindness, patience, courage, fairness")}, profile="quick")
    across = res.per_model[ALL_MODELS].metrics
    assert across["n_terms"]["estimate"] == 5
    assert (
        across["n_factors"]["estimate"] is None
        and "factor analysis not possible" in across["n_factors"]["note"]
    )
    plt.close("all")


def test_the_fixture_is_real_demo_text() -> None:
    lines = FIXTURE.read_text().splitlines()
    assert len(lines) > 800  # 2 models x (16 prompts x 16 samples + 60 stems x 3)


def test_every_contract_metric_is_finite_on_the_embedded_models(result: Result) -> None:
    across = result.per_model[ALL_MODELS].metrics
    for name in ACROSS:
        check_metric(name, across[name], "lexicon/_all")
        assert across[name]["estimate"] is not None and math.isfinite(across[name]["estimate"]), (
            name,
            across[name].get("note"),
        )
    assert across["n_factors"]["estimate"] >= 1 and 0 < across["kmo"]["estimate"] <= 1
    assert across["n_clusters"]["estimate"] >= 3
    for model in result.models:
        for sub in SUBDIMENSIONS:
            entry = result.per_model[model].metrics[f"profile_{sub}"]
            check_metric(f"profile_{sub}", entry, model)
            assert 0 <= entry["estimate"] <= 100


def test_factor_analysis_keeps_five_responses_per_term_and_frequent_terms_only(result: Result) -> None:
    tables = result.per_model[ALL_MODELS].tables
    n_responses = sum(len(result.per_model[m].tables["responses"]) for m in result.models)
    kept = tables["loadings"]["term"].tolist()
    assert n_responses >= 5 * len(kept)
    counts = tables["family_counts"].set_index("family")["responses"]
    assert all(counts[t] >= 0.05 * n_responses for t in kept)


def test_the_structure_is_compared_with_the_taxonomy_and_across_models(result: Result) -> None:
    tables = result.per_model[ALL_MODELS].tables
    assert tables["taxonomy_subdimensions"]["subdimension"].tolist() == list(SUBDIMENSIONS)
    comparison = tables["profile_comparison"]
    assert set(comparison["subdimension"]) == set(SUBDIMENSIONS)
    assert comparison[["model_a", "model_b"]].drop_duplicates().shape[0] == 1
    assert set(comparison["pair"]) == {"base vs instruction-tuned"}
    # derived forms are one family: the embedded models say both "honest" and "honesty"
    families = tables["term_families"].set_index("term")["family"]
    assert {"honest", "honesty"} <= set(families.index)
    assert families["honest"] == families["honesty"]


def test_figures_and_findings_are_drawn(result: Result) -> None:
    assert set(result.figures) == {"profiles", "top_terms", "loadings", "taxonomy_tree"}
    plt.close("all")
    text = " ".join(result.findings[ALL_MODELS])
    null = result.per_model[ALL_MODELS].tables["taxonomy_null"].iloc[0]
    assert f"which give a median of {null['null_median']:.2f}" in text
    assert "KMO" in text and "silhouette" in text and "None" not in text and "nan" not in text
    assert all(result.findings[m] for m in result.models)


class Camp:
    """A chat model that names each value of its camp with probability 0.8, each other value with 0.1."""

    instruct = True

    def __init__(self, camp: list[str], other: list[str], seed: int) -> None:
        self.camp, self.other, self.rng = camp, other, np.random.default_rng(seed)

    def generate(self, prompts: list[str], **kwargs: Any) -> list[str]:
        out = []
        for _ in prompts:
            named = [v for v in self.camp if self.rng.random() < 0.8]
            named += [v for v in self.other if self.rng.random() < 0.1]
            out.append(", ".join(named))
        return out


def test_with_enough_models_the_model_by_family_matrix_is_factor_analysed() -> None:
    """Twenty models from two camps (caring vs rigorous values): their shares load on two factors."""
    caring = ["kindness", "compassion", "empathy", "warmth"]
    rigorous = ["accuracy", "precision", "rigor", "diligence"]
    models: dict[str, Any] = {
        f"m{i:02d}": Camp(*((caring, rigorous) if i % 2 else (rigorous, caring)), seed=i) for i in range(20)
    }
    res = _run(models, profile="quick")
    across = res.per_model[ALL_MODELS]
    entry = across.metrics["n_model_factors"]
    check_metric("n_model_factors", entry, "lexicon/_all")
    assert entry["estimate"] is not None and entry["estimate"] >= 1, entry["note"]
    assert entry["n"] == 20 and len(across.tables["model_loadings"]) == 4
    assert set(across.tables["model_factor_scores"]["model"]) == set(models)
    plt.close("all")
