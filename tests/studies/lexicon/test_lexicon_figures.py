"""The lexicon study's figures and findings on a hand-built Result: every figure drawn when its tables
exist, none (and no error) when they do not, and findings that quote the numbers and notes present."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from valuescope.data.valuelex import DIMENSION_OF, SUBDIMENSIONS
from valuescope.stats.metrics import ALL_MODELS, metric, missing
from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.lexicon.figures import figures
from valuescope.studies.lexicon.findings import findings, kaiser_label
from valuescope.studies.protocol import Artifacts, Result

MODELS = ("gemma", "smollm2")
TERMS = ["honesty", "kindness", "respect", "helpfulness", "accuracy", "fairness", "privacy", "safety"]


def _model(k: int, rng: np.random.Generator) -> Artifacts:
    percents = rng.uniform(10, 90, len(SUBDIMENSIONS))
    profile = pd.DataFrame(
        {
            "subdimension": SUBDIMENSIONS,
            "percent": percents,
            "ci_low": percents - 8,
            "ci_high": percents + 8,
            "threshold": 0.3,
            "n_stems": 10,
            "n_completions": 20,
        }
    )
    counts = pd.DataFrame(
        {
            "term": [f"{t}{k}" for t in TERMS] + [f"term{k}_{i}" for i in range(8)],
            "count": range(40, 24, -1),
            "responses": range(30, 14, -1),
        }
    )
    metrics = {
        "n_responses": metric(96, n=16),
        "n_model_terms": metric(16, n=96, note="12 of 96 responses gave no value term"),
        **{
            f"profile_{r['subdimension']}": metric(
                r["percent"], r["ci_low"], r["ci_high"], n=10, note="embedding"
            )
            for r in profile.to_dict("records")
        },
    }
    if k == 1:
        metrics["profile_social"] = missing("no completion of the social stems")
    return Artifacts(
        tables={
            "profile": profile,
            "term_counts": counts,
            "responses": pd.DataFrame({"response": ["x"] * 96}),
        },
        metrics=metrics,
    )


def _across(rng: np.random.Generator) -> Artifacts:
    loadings = pd.DataFrame(
        {"term": TERMS, "F1": rng.uniform(-1, 1, len(TERMS)), "F2": rng.uniform(-1, 1, len(TERMS)), "h2": 0.5}
    )
    subs = [s for s in SUBDIMENSIONS if s != "idealistic"]  # one subdimension no cluster maps to
    tree = pd.DataFrame(
        {
            "cluster": range(len(subs)),
            "name": [f"{a}, {b}" for a, b in pairwise(TERMS)][: len(subs)],
            "n_terms": [12, 8, 30, 5, 9],
            "subdimension": subs,
            "dimension": [DIMENSION_OF[s].capitalize() for s in subs],
            "cosine": [0.31, 0.12, 0.44, 0.08, 0.27],
        }
    )
    per_sub = pd.DataFrame(
        {"best_cluster": [0, 1, 2, 2, 3, 4], "cosine": [0.31, 0.12, 0.44, 0.19, 0.08, 0.27]},
        index=pd.Index(SUBDIMENSIONS, name="subdimension"),
    )
    comparison = pd.DataFrame(
        {
            "model_a": "gemma",
            "model_b": "smollm2",
            "subdimension": SUBDIMENSIONS,
            "a_percent": [60, 50, 40, 30, 70, 80],
            "b_percent": [55, 50, 45, 30, 40, 55],
            "difference": [5, 0, -5, 0, 30, 25],
            "ci_low": [-5, -10, -15, -10, 20, 15],
            "ci_high": [15, 10, 5, 10, 40, 35],
            "p": [0.3, 1.0, 0.3, 1.0, 0.0004, 0.002],
            "q": [0.45, 1.0, 0.45, 1.0, 0.0024, 0.006],
            "n_stems": 10,
        }
    )
    metrics = {
        "n_terms": metric(708, n=192, note="distinct value terms from 2 model(s)"),
        "n_clusters": metric(5, n=708, note="k by cosine silhouette"),
        "taxonomy_agreement": metric(
            0.27,
            0.23,
            0.29,
            p=0.002,
            n=708,
            note="mean best cosine of a cluster to each ValueLex subdimension; random partitions "
            "0.110 [0.090, 0.150]",
        ),
        "n_factors": metric(2, n=192, note="parallel analysis on 192 responses x 8 terms"),
        "kmo": metric(0.61, n=192, p=0.0001, note="p: Bartlett's test of sphericity"),
    }
    return Artifacts(
        tables={
            "loadings": loadings,
            "taxonomy_tree": tree,
            "taxonomy_subdimensions": per_sub,
            "profile_comparison": comparison,
        },
        metrics=metrics,
    )


def _result(per_model: dict[str, Artifacts]) -> Result:
    return Result(study="lexicon", config=LexiconConfig(), per_model=per_model)


@pytest.fixture
def full() -> Result:
    rng = np.random.default_rng(0)
    per_model = {m: _model(k, rng) for k, m in enumerate(MODELS)}
    per_model[ALL_MODELS] = _across(rng)
    return _result(per_model)


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    plt.close("all")


def test_every_figure_is_drawn(full: Result) -> None:
    figs = figures(full)
    assert set(figs) == {"profiles", "top_terms", "loadings", "taxonomy_tree"}
    assert all(isinstance(f, Figure) for f in figs.values())
    assert len(figs["top_terms"].axes) == len(MODELS)
    assert len(figs["loadings"].axes[0].get_xticklabels()) == 2  # F1, F2; not h2
    tree_text = {t.get_text() for t in figs["taxonomy_tree"].axes[0].texts}
    assert {"idealistic", "Competence", "honesty, kindness (12)", "0.44"} <= tree_text


def test_nothing_to_draw_or_say_without_tables() -> None:
    empty = _result({m: Artifacts() for m in (*MODELS, ALL_MODELS)})
    assert figures(empty) == {}
    said = findings(empty)
    assert list(said) == [ALL_MODELS, *MODELS]
    assert all(v == [] for v in said.values())
    empty_tables = {"profile": pd.DataFrame(), "term_counts": pd.DataFrame(), "loadings": pd.DataFrame()}
    assert figures(_result({"gemma": Artifacts(tables=dict(empty_tables)), ALL_MODELS: Artifacts()})) == {}


def test_findings_quote_the_numbers(full: Result) -> None:
    said = findings(full)
    assert list(said) == [ALL_MODELS, *MODELS]
    text = " ".join(said[ALL_MODELS])
    assert "708 distinct value terms" in text and "5 clusters" in text
    assert "0.27 [0.23, 0.29]" in text and "p = 0.002" in text and "better than chance" in text
    assert "not better" not in text
    assert "KMO 0.61" in text and "Bartlett p < 0.001" in text and "mediocre" in text
    assert "2 factors" in text and "F1: " in text and "F2: " in text
    assert "Best matched subdimension: social (0.44" in text and "worst matched: professional (0.08" in text
    assert "gemma scores higher than smollm2 on professional (+30 points, q = 0.002)" in text
    assert "on self_competent" not in text
    gemma = " ".join(said["gemma"])
    assert "96 elicitation responses" in gemma and "12 of 96 responses gave no value term" in gemma
    assert "honesty0 (30 responses)" in gemma and "accuracy0" in gemma and "fairness0" not in gemma
    assert "Projective profile: highest on" in gemma
    for sentences in said.values():
        for s in sentences:
            assert "None" not in s and "nan" not in s.lower().replace("nance", ""), s


def test_missing_metrics_are_said_with_their_note(full: Result) -> None:
    art = full.per_model[ALL_MODELS]
    art.metrics["kmo"] = missing("factor analysis not possible on 12 responses x 1 terms: too few")
    art.metrics["taxonomy_agreement"] = missing("only 3 distinct terms; clustering needs at least 4")
    art.metrics["scorer_auroc"] = missing("no external labels")
    said = findings(full)
    text = " ".join(said[ALL_MODELS])
    assert "KMO was not computed (factor analysis not possible on 12 responses x 1 terms: too few)" in text
    assert "not computed (only 3 distinct terms; clustering needs at least 4)" in text
    assert "AUROC against external labels was not computed (no external labels)" in text
    assert "not computed for social (no completion of the social stems)" in " ".join(said["smollm2"])
    assert not any("None" in s for v in said.values() for s in v)


def test_no_difference_and_chance_verdicts(full: Result) -> None:
    art = full.per_model[ALL_MODELS]
    art.tables["profile_comparison"] = art.tables["profile_comparison"].assign(q=0.5)
    art.metrics["taxonomy_agreement"] = metric(0.12, 0.1, 0.14, p=0.3, n=708, note="null")
    text = " ".join(findings(full)[ALL_MODELS])
    assert "no subdimension differs after correction" in text
    assert "p = 0.300" in text and "not better than chance" in text


def test_kaiser_labels() -> None:
    assert [kaiser_label(v) for v in (0.4, 0.55, 0.65, 0.75, 0.85, 0.95)] == [
        "unacceptable",
        "miserable",
        "mediocre",
        "middling",
        "meritorious",
        "marvelous",
    ]


def test_a_profile_below_its_scorers_gate_is_marked_in_its_figure_and_findings(full: Result) -> None:
    from valuescope.stats.metrics import BELOW_GATE, below_gate

    assert not any(BELOW_GATE in t.get_text() for t in figures(full)["profiles"].texts)
    for model in MODELS:
        metrics = full.per_model[model].metrics
        for name in [n for n in metrics if n.startswith("profile_")]:
            metrics[name] = below_gate(metrics[name], "projective-scorer: valuebench-polarity 0.72")
    assert any(BELOW_GATE in t.get_text() for t in figures(full)["profiles"].texts)
    said = findings(full)
    assert f"Projective profile: not reported as a result: {BELOW_GATE}: projective-scorer" in " ".join(
        said[MODELS[0]]
    )
    assert any(s.startswith("Profile comparisons: not reported as a result") for s in said[ALL_MODELS])
