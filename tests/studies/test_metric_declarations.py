"""Each study declares every metric it emits once (its ``metrics`` module), and the declarations agree
with what the golden quick-profile run emitted: the same direction, and an interval exactly where one is
declared."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from valuescope.stats.metrics import MetricSpec, has_interval, metric_descriptions
from valuescope.studies.protocol import Study
from valuescope.studies.registry import BUILT_IN

GOLDEN = Path(__file__).parents[1] / "runs" / "golden" / "all_studies_tiny_summary.json"
STUDIES = sorted(BUILT_IN)


def _golden_entries(study: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, metric, entry) of every metric the golden run recorded for ``study``."""
    summary = json.loads(GOLDEN.read_text("utf-8"))[study]
    return [(model, name, entry) for model, metrics in summary.items() for name, entry in metrics.items()]


def _specs(study: str) -> dict[str, MetricSpec]:
    return {spec.name: spec for spec in BUILT_IN[study].metric_specs}


@pytest.mark.parametrize("study", STUDIES)
def test_the_study_describes_exactly_its_declared_metrics(study: str) -> None:
    cls: type[Study] = BUILT_IN[study]
    assert cls.metric_specs, f"{study} declares no metric_specs (its metrics module's METRICS)"
    assert cls.metrics == metric_descriptions(cls.metric_specs)


@pytest.mark.parametrize("study", STUDIES)
def test_every_metric_the_golden_run_emitted_is_declared(study: str) -> None:
    emitted = {name for _, name, _ in _golden_entries(study)}
    needing_data = {name for names in BUILT_IN[study].data_metrics.values() for name in names}
    undeclared = sorted((emitted | needing_data) - set(_specs(study)))
    assert not undeclared, f"{study} emits undeclared metrics: {', '.join(undeclared)}"


@pytest.mark.parametrize("study", STUDIES)
def test_each_emitted_direction_is_the_declared_one(study: str) -> None:
    specs = _specs(study)
    for model, name, entry in _golden_entries(study):
        if entry["estimate"] is None and "better" not in entry:
            continue  # a missing metric carries no direction
        assert entry.get("better") == specs[name].better, f"{study}/{model}/{name}"


@pytest.mark.parametrize("study", STUDIES)
def test_an_interval_is_emitted_exactly_where_one_is_declared(study: str) -> None:
    specs = _specs(study)
    for model, name, entry in _golden_entries(study):
        if entry["estimate"] is None:
            continue  # a missing metric has no interval whatever its kind
        no_interval = entry["ci_low"] is None and entry["ci_high"] is None
        assert no_interval == (specs[name].interval == "none"), f"{study}/{model}/{name}"


@pytest.mark.parametrize("study", STUDIES)
def test_declarations_are_well_formed(study: str) -> None:
    specs = BUILT_IN[study].metric_specs
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names)), f"{study} declares a metric twice"
    for spec in specs:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", spec.name), spec.name
        assert spec.meaning.strip() and "\n" not in spec.meaning, spec.name
        assert spec.better in ("higher", "lower", None), spec.name
        assert spec.interval in ("ci", "none"), spec.name


@pytest.mark.parametrize("study", STUDIES)
def test_the_summary_check_expects_an_interval_where_one_is_declared(study: str) -> None:
    for spec in BUILT_IN[study].metric_specs:
        assert has_interval(spec.name) == (spec.interval == "ci"), f"{study}/{spec.name}"


def test_a_metric_declared_twice_is_refused() -> None:
    spec = MetricSpec("gap", "A gap.", "higher", "ci")
    with pytest.raises(ValueError, match="'gap' is declared twice"):
        metric_descriptions((spec, spec))
