"""The lexicon's cross-model comparison reads the anchors file the elicitation units recorded."""

from __future__ import annotations

from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.lexicon.elicit import ANCHORS_PATH
from valuescope.studies.lexicon.structure import anchors_path
from valuescope.studies.protocol import Artifacts


def test_the_comparison_reads_the_anchors_a_unit_recorded() -> None:
    cfg = LexiconConfig.for_profile("quick", {"anchors": "mine.csv"})
    per_model = {"a": Artifacts(), "b": Artifacts(data={ANCHORS_PATH: "/data/mine.csv"})}
    assert anchors_path(per_model, cfg) == "/data/mine.csv"


def test_without_a_recorded_file_the_config_decides() -> None:
    assert anchors_path({"a": Artifacts()}, LexiconConfig.for_profile("quick")) is None
    cfg = LexiconConfig.for_profile("quick", {"anchors": "mine.csv"})
    assert anchors_path({"a": Artifacts()}, cfg) == "mine.csv"
