"""The indifference findings say "not computable" for a repair that moved nothing, and never "beats"."""

from __future__ import annotations

from valuescope.edit import controls as ctl
from valuescope.stats.metrics import metric
from valuescope.studies.indifference.findings import model_findings
from valuescope.studies.protocol import Artifacts


def repair_metrics(random: dict, permuted: dict) -> dict:
    return {
        "virtue_vice_cosine_after_repair": metric(0.4, 0.3, 0.5, p=0.9, n=40, layer=3, note="half B"),
        "random_edit_virtue_vice_cosine": random,
        "permuted_target_virtue_vice_cosine": permuted,
        "repair_kl": metric(0.0, 0.0, 0.0, n=4),
    }


def test_a_repair_that_moved_nothing_is_not_computable_in_the_findings() -> None:
    reason = ctl.edit_moved_nothing(0.0, rank=1)
    assert reason is not None
    missing = ctl.not_computable(reason, better="lower", controls="19 random edits").null_metric()
    text = " ".join(model_findings(Artifacts(metrics=repair_metrics(missing, missing))))
    assert "not computable against random-subspace edits" in text and "rank 1 < 2" in text
    assert "beats" not in text.replace("does not beat", "")


def test_a_repair_that_beats_its_controls_says_so() -> None:
    beaten = ctl.against_controls(
        -0.5, [0.01 * i for i in range(19)], better="lower", controls="19 random edits"
    ).null_metric()
    within = ctl.against_controls(0.05, [0.01 * i for i in range(19)], better="lower", controls="19 refits")
    text = " ".join(model_findings(Artifacts(metrics=repair_metrics(beaten, within.null_metric()))))
    assert "it beats random-subspace edits of the same effect" in text
    assert "does not beat refits to permuted targets" in text
