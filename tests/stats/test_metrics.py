"""The summary contract is enforced where a study hands its metrics over."""

from __future__ import annotations

import math

import pytest

from valuescope.stats.metrics import (
    BELOW_GATE,
    below_gate,
    check_metric,
    gate_note,
    has_interval,
    metric,
    missing,
)


def test_a_complete_metric_passes_and_drops_empty_extras() -> None:
    m = metric(0.4, 0.1, 0.7, p=0.02, n=30, layer=6, better="higher", note=None)
    check_metric("gap", m, "here")
    assert m == {
        "estimate": 0.4,
        "ci_low": 0.1,
        "ci_high": 0.7,
        "p": 0.02,
        "n": 30,
        "layer": 6,
        "better": "higher",
    }


@pytest.mark.parametrize(
    ("name", "entry", "fragment"),
    [
        ("gap", metric(0.4, 0.5, 0.7), "does not contain"),
        ("gap", metric(0.4), "finite 95% interval"),
        ("gap", {"estimate": math.inf, "ci_low": 0, "ci_high": 1, "p": None, "n": 1}, "not finite"),
        ("gap", {"estimate": 1.0, "ci_low": 0, "ci_high": 2, "p": None}, "lacks n"),
        ("gap", {**metric(1.0, 0, 2), "colour": "red"}, "unknown fields"),
        ("gap", metric(1.0, 0, 2, p=1.5), "outside [0, 1]"),
        ("gap", metric(1.0, 0, 2, better="up"), "better="),
        ("n_items", metric(5, 1, 9), "interval fields must be null"),
        ("gap", {"estimate": None, "ci_low": None, "ci_high": None, "p": None, "n": None}, "no note"),
    ],
)
def test_broken_metrics_are_refused_with_the_metric_named(name: str, entry: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match="metric") as info:
        check_metric(name, entry, "study/model/step")
    assert fragment in str(info.value) and "study/model/step" in str(info.value)


def test_counts_and_single_fit_diagnostics_carry_no_interval() -> None:
    assert not has_interval("n_pairs") and not has_interval("kmo") and not has_interval("sae_l0")
    assert has_interval("rating_gap")
    check_metric("n_pairs", metric(12, n=12), "here")
    check_metric("kmo", metric(0.71), "here")


def test_a_metric_that_cannot_be_computed_says_why() -> None:
    m = missing("fewer than 2 models")
    check_metric("rating_gap_difference", m, "here")
    assert m["estimate"] is None and m["note"] == "fewer than 2 models"


def test_nan_becomes_null() -> None:
    assert metric(float("nan"), n=3, note="x")["estimate"] is None


def test_the_interval_check_forgives_rounding_and_nothing_more() -> None:
    est = 0.04161891774240936  # one ulp below its null's quantiles, as a mean of 20 equal floats can be
    check_metric("gap", metric(est, 0.04161891774240937, 0.04161891774240937), "here")
    with pytest.raises(ValueError, match="does not contain"):
        check_metric("gap", metric(0.0416, 0.0417, 0.0418), "here")
    with pytest.raises(ValueError, match="does not contain"):
        check_metric("gap", metric(1.0 - 1e-7, 1.0, 1.0), "here")


def test_a_metric_below_its_instruments_gate_keeps_its_figures_but_not_as_a_result() -> None:
    m = metric(0.4, 0.1, 0.7, p=0.02, n=30, layer=6, better="higher", note="cosine")
    gated = below_gate(m, "value-labeller: touche23 macro auroc 0.73")
    check_metric("cos", gated, "here")
    assert gated["estimate"] is None and gated["ci_low"] is None and gated["p"] is None
    assert (gated["n"], gated["layer"], gated["better"]) == (30, 6, "higher")
    assert gated["note"] == f"{BELOW_GATE}: value-labeller: touche23 macro auroc 0.73"
    assert gated["ungated"] == {"estimate": 0.4, "ci_low": 0.1, "ci_high": 0.7, "p": 0.02, "note": "cosine"}
    assert gate_note(gated) == gated["note"]
    assert gate_note(m) is None and gate_note(None) is None
    with pytest.raises(ValueError, match="ungated must be a dict"):
        check_metric("cos", {**gated, "ungated": 0.4}, "here")


def test_findings_read_a_metric_with_its_interval_and_claim_only_what_it_supports() -> None:
    from valuescope.stats.metrics import field_of, interval_above, with_interval

    entry = metric(0.4321, 0.1, 0.7, p=0.0004, n=20)
    assert with_interval(entry) == "0.43 [0.10, 0.70], p < 0.001"
    assert with_interval(metric(0.5, 0.2, 0.8, p=0.031), 1) == "0.5 [0.2, 0.8], p = 0.031"
    assert with_interval(None) == "n/a" and field_of({"estimate": True}) is None
    assert interval_above(entry) and not interval_above(entry, 0.2)
    assert not interval_above(metric(0.4, 0.1, 0.7, p=0.2))  # tested and not significant
    assert interval_above(metric(0.4, 0.1, 0.7))  # not tested: the interval decides
