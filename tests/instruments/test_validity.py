"""Validity tables: AUROC per dimension and macro with intervals, and gates, on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuescope.instruments.validity import (
    MACRO,
    POOLED,
    VALIDITY_COLUMNS,
    Gate,
    auroc_validity,
    gate_verdicts,
    share_validity,
    validity_table,
)


def test_perfect_reversed_and_masked_scores_give_their_known_aurocs() -> None:
    labels = np.array([[1, 1], [1, 0], [0, 1], [0, 0]] * 10, dtype=bool)
    scores = np.column_stack([labels[:, 0] + 0.0, -(labels[:, 1] + 0.0)])
    table = auroc_validity(scores, labels, ["a", "b"], n_boot=100)
    assert list(table["dimension"]) == ["a", "b", MACRO]
    assert table["estimate"].tolist() == [1.0, 0.0, 0.5]
    assert (table["ci_low"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_high"]).all()
    assert (table["n"] == 40).all()
    # rows left out of a dimension do not count: the wrong half of "b" is masked away
    counted = np.column_stack([np.ones(40, bool), ~labels[:, 1] | (np.arange(40) % 2 == 0)])
    masked = auroc_validity(scores, labels, ["a", "b"], counted=counted, n_boot=100)
    assert masked["estimate"].iloc[1] == 0.0  # still perfectly reversed on what is left


def test_intervals_are_over_groups() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random((200, 1)) < 0.5
    scores = labels + rng.normal(0, 1.0, (200, 1))
    by_row = auroc_validity(scores, labels, ["x"], n_boot=300)
    by_group = auroc_validity(scores, labels, ["x"], groups=np.arange(200) // 20, n_boot=300)
    assert by_row["estimate"].iloc[0] == by_group["estimate"].iloc[0]
    assert by_group["n"].iloc[0] == 10
    width = lambda t: t["ci_high"].iloc[0] - t["ci_low"].iloc[0]  # noqa: E731
    assert width(by_group) != width(by_row)


def test_a_dimension_with_one_label_is_nan_not_an_error() -> None:
    labels = np.column_stack([np.arange(20) % 2 == 0, np.ones(20, bool)])
    table = auroc_validity(labels + 0.0, labels, ["ok", "single"], n_boot=50)
    assert np.isnan(table["estimate"].iloc[1]) and table["estimate"].iloc[2] == 1.0  # macro skips it


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"must both be \(n, 2\)"):
        auroc_validity(np.zeros((4, 2)), np.zeros((4, 3), bool), ["a", "b"])


def test_gates_bar_only_their_rows() -> None:
    gate = Gate("auroc", 0.85, per_dimension=0.7)
    assert gate.passes(MACRO, 0.86) and not gate.passes(MACRO, 0.84) and not gate.passes(MACRO, float("nan"))
    assert gate.passes("a", 0.71) and not gate.passes("a", 0.69)
    pooled = Gate("auroc", 0.85, applies_to=POOLED)
    assert pooled.passes(MACRO, 0.1) is None and pooled.passes("inv", 0.1) is None
    assert pooled.passes(POOLED, 0.9)
    labels = np.array([[1, 0], [0, 1], [0, 0], [1, 1]] * 5, dtype=bool)
    table = auroc_validity(labels + 0.0, labels, ["a", "b"], n_boot=50)
    out = validity_table("value-labeller", "touche23", "auroc", table, gate)
    assert tuple(out.columns) == VALIDITY_COLUMNS
    assert out["gate"].tolist() == ["auroc >= 0.7", "auroc >= 0.7", "auroc >= 0.85"]
    assert out["passed"].tolist() == [True, True, True]


def test_gate_verdicts_name_what_failed_and_pass_what_passed() -> None:
    gate = Gate("auroc", 0.9, per_dimension=0.7)
    rng = np.random.default_rng(0)
    labels = rng.random((200, 3)) < 0.5
    strong = labels + rng.normal(0, 0.1, (200, 3))  # every AUROC ~1
    weak = np.column_stack([strong[:, :2], rng.normal(size=200)])  # "c" is chance
    table = pd.concat(
        [
            validity_table(
                "good", "set", "auroc", auroc_validity(strong, labels, list("abc"), n_boot=50), gate
            ),
            validity_table("bad", "set", "auroc", auroc_validity(weak, labels, list("abc"), n_boot=50), gate),
        ]
    )
    verdicts = gate_verdicts(table)
    assert verdicts["good"] is None
    assert verdicts["bad"] is not None and verdicts["bad"].startswith("set: ")
    assert "1 of 3 dimensions below auroc >= 0.7" in verdicts["bad"]
    assert "macro auroc" in verdicts["bad"] and "(gate auroc >= 0.9)" in verdicts["bad"]


def test_shares_per_dimension_and_overall_have_known_values() -> None:
    hits = np.array([1, 1, 1, 1, 0, 0, 0, 1], dtype=bool)
    dims = np.array(list("aaaabbbb"))
    table = share_validity(hits, dims, ["a", "b"], n_boot=100)
    assert table["estimate"].tolist() == [1.0, 0.25, 0.625]
    assert table["n"].tolist() == [4, 4, 8]
    assert (table["ci_low"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_high"]).all()
    overall = share_validity(hits, dims, [], n_boot=100)
    assert overall["dimension"].tolist() == [MACRO] and overall["estimate"].iloc[0] == 0.625
