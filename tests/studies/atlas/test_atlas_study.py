"""The atlas study end to end on a tiny model (it runs the mechanisms study it reads first), its
cross-model geometry on known matrices, and the plan machinery that lets one study read another."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute
from valuescope.stats.metrics import check_metric
from valuescope.studies.atlas.config import AtlasConfig
from valuescope.studies.atlas.geometry import compare_geometry, rsa
from valuescope.studies.atlas.metrics import METRICS
from valuescope.studies.atlas.side_effects import circularity
from valuescope.studies.protocol import Artifacts
from valuescope.studies.registry import task_groups, with_reads

TINY = """
studies:
  mechanisms: {n_queries: 16, max_new_tokens: 12, min_positive: 3, n_boot: 40, n_perm: 30, n_noise: 3,
               damage_texts: 4, diversity_queries: 3, alpha_rule: fixed, alpha: 1.0,
               dose_kl: [0.004, 0.01]}
  atlas: {n_boot: 60, n_perm: 40}
"""
PER_MODEL = [s.name for s in METRICS if s.name != "rsa_value_geometry"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("atlas")
    config = tmp / "c.yaml"
    config.write_text(TINY)
    out = tmp / "run"
    plan = make_plan("atlas", ["tiny-llama"], out, config_file=config, profile="quick")
    assert list(plan.configs) == ["mechanisms", "atlas"], "the atlas plan runs the study it reads first"
    execute(plan, quiet=True)
    return out


def test_every_atlas_metric_is_computed_and_valid(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["failed_units"] == []
    atlas = summary["atlas"]["tiny-llama"]
    for name in PER_MODEL:
        check_metric(name, atlas[name], "atlas")
        figures = atlas[name].get("ungated", atlas[name])
        assert figures["estimate"] is not None, (name, atlas[name])
        assert figures["ci_low"] <= figures["estimate"] <= figures["ci_high"], name
    rsa_entry = summary["atlas"]["_all"]["rsa_value_geometry"]
    assert rsa_entry["estimate"] is None and "needs two models" in rsa_entry["note"]


def test_agreement_uses_three_methods_on_the_mechanisms_queries(tiny_run: Path) -> None:
    unit = tiny_run / "units" / "atlas" / "tiny-llama" / "agreement" / "tables"
    methods = pd.read_json(unit / "methods.json", orient="table")
    assert set(methods.loc[methods["used"], "method"]) == {"self_rating", "labeller", "residuals"}
    assert "lexicon" in set(methods.loc[~methods["used"], "method"])
    scores = pd.read_json(unit / "mtmm_scores.json", orient="table")
    assert scores.groupby("method").size().nunique() == 1  # the same queries in every method
    assert set(SCHWARTZ_VALUES) <= set(scores.columns)
    matrix = pd.read_json(unit / "mtmm_matrix.json", orient="table")
    assert len(matrix) == 30 * 30
    profile = pd.read_json(unit / "value_profile.json", orient="table")
    assert list(profile["value"]) == list(SCHWARTZ_VALUES)
    assert profile["rating"].between(1, 6).all()


def test_side_effects_read_two_strengths_against_random_directions(tiny_run: Path) -> None:
    unit = tiny_run / "units" / "atlas" / "tiny-llama" / "side_effects" / "tables"
    fits = pd.read_json(unit / "sidefx.json", orient="table")
    assert set(fits["strength"]) == {"matched", "low", "random"}
    cost = pd.read_json(unit / "sidefx_cost.json", orient="table")
    low = cost[cost["strength"] == "low"].set_index("value")
    high = cost[cost["strength"] == "matched"].set_index("value")
    assert np.allclose(low["alpha"], high.loc[low.index, "alpha"] * np.sqrt(AtlasConfig().sidefx_low))
    assert (cost["kl"] >= 0).all()


def test_the_report_shows_the_atlas(tiny_run: Path) -> None:
    from valuescope.report import write_report

    html = Path(write_report(tiny_run)).read_text()
    assert "Value atlas" in html and "mtmm_convergent" in html and "MTMM convergent" in html
    findings, atlas, overview = (
        html.index(f'<section id="{a}"') for a in ("findings", "atlas-page", "overview")
    )
    assert findings < atlas < overview, "the report opens with the findings, then the atlas page"
    page = html[findings:atlas]
    assert "Side-effects of steering" in page and page.count("data:image/") >= 2  # mechanisms' and atlas's


def _geometry(m: np.ndarray) -> Artifacts:
    table = pd.DataFrame(m, index=pd.Index(SCHWARTZ_VALUES, name="value"), columns=list(SCHWARTZ_VALUES))
    return Artifacts(tables={"value_geometry": table.reset_index()})


def _random_cosines(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(10, 16))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v @ v.T


def test_rsa_of_alike_geometries_is_high_and_beats_shuffled_labels() -> None:
    rng = np.random.default_rng(0)
    a = _random_cosines(rng)
    noisy = a + 0.02 * rng.normal(size=a.shape)
    out = compare_geometry({"m1": _geometry(a), "m2": _geometry((noisy + noisy.T) / 2)}, AtlasConfig(), 0)
    entry = out.metrics["rsa_value_geometry"]
    assert entry["estimate"] > 0.9 and entry["ci_low"] > 0.7 and entry["p"] < 0.01
    assert rsa(a, a) == pytest.approx(1.0)


def test_rsa_of_unrelated_geometries_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    cfg = AtlasConfig(n_perm=200, n_boot=200)
    out = compare_geometry(
        {"m1": _geometry(_random_cosines(rng)), "m2": _geometry(_random_cosines(rng))}, cfg, 0
    )
    entry = out.metrics["rsa_value_geometry"]
    assert entry["ci_low"] <= entry["estimate"] <= entry["ci_high"]
    assert entry["p"] > 0.05


def test_circularity_is_one_for_changes_that_follow_the_circle() -> None:
    angles = 2 * np.pi * np.arange(10) / 10
    item_value = np.repeat(np.arange(10), 2)
    steered = [0, 3, 7]
    changes = np.array([np.round(np.cos(angles[item_value] - angles[s]), 9) for s in steered])
    assert circularity(changes, steered, item_value) == pytest.approx(1.0)
    assert circularity(-changes, steered, item_value) == pytest.approx(-1.0)


def test_a_study_that_reads_another_runs_after_it_in_one_group() -> None:
    assert with_reads(["atlas"]) == ["mechanisms", "atlas"]
    assert with_reads(["mechanisms", "atlas", "lexicon"]) == ["mechanisms", "atlas", "lexicon"]
    groups = task_groups(["entanglement", "mechanisms", "lexicon", "atlas"])
    assert groups == {
        "entanglement": ["entanglement"],
        "lexicon": ["lexicon"],
        "atlas": ["mechanisms", "atlas"],
    }
    assert task_groups(["mechanisms"]) == {"mechanisms": ["mechanisms"]}


def test_three_models_get_a_dendrogram_of_their_value_geometry() -> None:
    from valuescope.studies.atlas.figures import value_geometry_figure
    from valuescope.studies.protocol import Result

    rng = np.random.default_rng(2)
    per_model = {m: _geometry(_random_cosines(rng)) for m in ("a", "b", "c")}
    fig = value_geometry_figure(Result("atlas", AtlasConfig(), per_model))
    assert fig is not None and len(fig.axes) == 4  # three pairs and the tree
    labels = {t.get_text() for t in fig.axes[-1].get_yticklabels()}
    assert labels == {"a", "b", "c"}


def test_the_side_effect_figure_peaks_where_the_planted_phase_is_and_marks_it() -> None:
    """Changes planted as cos(angle - 72°) from each steered value: the aligned curve peaks two steps
    round the circle, and the fitted peak (the phase metric) is drawn there with its CI."""
    from valuescope.stats.metrics import metric
    from valuescope.studies.atlas.figures import sidefx_figure
    from valuescope.studies.protocol import Result

    rows = []
    for s, steered in enumerate(SCHWARTZ_VALUES):
        changes = {v: np.cos(np.radians(36 * (k - s) - 72)) for k, v in enumerate(SCHWARTZ_VALUES)}
        rows.append({"strength": "matched", "steered": steered, **changes})
    artifacts = Artifacts(
        tables={"sidefx": pd.DataFrame(rows)}, metrics={"sidefx_phase": metric(72.0, 60.0, 84.0)}
    )
    fig = sidefx_figure(Result("atlas", AtlasConfig(), {"m": artifacts}))
    assert fig is not None
    ax = fig.axes[0]
    lines = {str(line.get_label()).split()[0]: line for line in ax.get_lines()}
    x, y = (np.asarray(d, dtype=float) for d in lines["value"].get_data())
    assert x[int(np.argmax(y))] == 2
    assert np.asarray(lines["fitted"].get_xdata(), dtype=float)[0] == pytest.approx(2.0)
    (span,) = ax.patches
    corners = np.asarray(span.get_path().transformed(span.get_patch_transform()).vertices)
    assert corners[:, 0].min() == pytest.approx(60 / 36) and corners[:, 0].max() == pytest.approx(84 / 36)


def test_the_phase_interval_wraps_round_the_axis_of_circle_steps() -> None:
    from valuescope.studies.atlas.figures import _wrapped_span

    assert _wrapped_span(1.0, 2.0) == [(1.0, 2.0)]
    # -316° to -115° (an interval unwrapped round -154°) is 44° on through 180° to 245° (= -115°)
    pieces = _wrapped_span(-316 / 36, -115 / 36)
    assert pieces[0] == pytest.approx((44 / 36, 5.5)) and pieces[1] == pytest.approx((-4.5, -115 / 36))
    assert _wrapped_span(-10.0, 1.0) == [(-4.5, 5.5)]
