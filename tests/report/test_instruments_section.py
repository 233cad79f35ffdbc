"""The report's Instruments section: gated rows and verdicts, escaping, and the not-validated notice."""

from __future__ import annotations

import json
from pathlib import Path

from valuescope.report.instruments import instruments_section
from valuescope.report.run_folder import RunFolder

HEADER = "instrument,dataset,dimension,metric,estimate,ci_low,ci_high,n,gate,passed\n"


def folder(tmp_path: Path, table: str | None, status: dict[str, str]) -> RunFolder:
    (tmp_path / "tables").mkdir()
    if table is not None:
        (tmp_path / "tables" / "instrument_validity.csv").write_text(HEADER + table)
    (tmp_path / "instruments.json").write_text(json.dumps(status))
    return RunFolder(tmp_path, {}, {})


def test_gated_and_failing_rows_are_shown_with_their_verdicts(tmp_path: Path) -> None:
    table = (
        "value-labeller,touche23,Humility,auroc,0.541,0.486,0.587,1896,auroc >= 0.7,False\n"
        "value-labeller,touche23,Stimulation,auroc,0.795,0.76,0.83,1896,auroc >= 0.7,True\n"
        "value-labeller,touche23,macro,auroc,0.732,0.725,0.741,1896,auroc >= 0.85,False\n"
        "projective-scorer,valuebench-polarity,EPQ,auroc,0.9,0.8,0.95,40,,\n"
        "projective-scorer,valuebench-polarity,pooled,auroc,0.9,0.8,0.95,36,auroc >= 0.85,True\n"
    )
    html = instruments_section(folder(tmp_path, table, {"status": "validated"}))
    assert "Below their validity gate: value-labeller on touche23." in html
    assert "Humility" in html and "below gate" in html and "pass" in html
    assert "EPQ" not in html  # an ungated row that fails nothing is not listed
    assert "[0.725, 0.741]" in html


def test_strings_from_the_table_are_escaped(tmp_path: Path) -> None:
    table = "<script>x</script>,touche23,macro,auroc,0.5,0.4,0.6,10,auroc >= 0.85,False\n"
    html = instruments_section(folder(tmp_path, table, {}))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_run_without_validation_says_why(tmp_path: Path) -> None:
    html = instruments_section(folder(tmp_path, None, {"status": "no data", "reason": "no data folder"}))
    assert "Not validated in this run: no data folder." in html
    # the verdicts the run followed: the shipped heads' table, measured when they were trained
    assert "measured when the shipped heads were trained" in html
    assert "Below their validity gate: projective-scorer on valuebench-polarity, value-labeller on" in html


def test_a_metric_below_its_gate_shows_its_figures_as_not_a_result() -> None:
    from valuescope.report.tables import metric_table
    from valuescope.stats.metrics import below_gate, metric

    entry = below_gate(metric(0.41, 0.2, 0.6, n=8), "value-labeller: touche23 <macro>")
    html = metric_table({"m": {"cos": entry}}, ["m"])
    assert "below gate" in html and "computed: 0.41 [0.2, 0.6], not a result" in html
    assert "touche23 &lt;macro&gt;" in html


def test_the_judges_rows_name_their_metric(tmp_path: Path) -> None:
    table = "judge,touche23,macro,accuracy,0.53,0.48,0.58,400,accuracy >= 0.75,False\n"
    html = instruments_section(folder(tmp_path, table, {"status": "validated"}))
    assert "accuracy" in html and ">metric<" in html and ">AUROC<" not in html
