"""Config docs: every field of every registered study is described, and `studies --details` shows it."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field
from typer.testing import CliRunner

from valuescope.cli import app
from valuescope.studies.config_docs import field_docs, render_fields, type_label, undocumented
from valuescope.studies.protocol import StudyConfig
from valuescope.studies.readout_check.config import ReadoutCheckConfig
from valuescope.studies.registry import studies


@pytest.mark.parametrize("name", list(studies()))
def test_every_config_field_of_every_study_has_a_description(name: str) -> None:
    config = studies()[name].Config
    assert config.model_fields, f"{name} declares no config fields"
    assert undocumented(config) == [], (
        f"{name}: write a one-line docstring right after each of these fields in its config class"
    )


def test_a_redeclared_base_field_without_a_docstring_counts_as_undocumented() -> None:
    class Bare(StudyConfig):
        n: int = 1
        """Documented."""
        min_n_per_cell: int = 3

    assert undocumented(Bare) == ["min_n_per_cell"]


def test_field_docs_give_type_default_resolved_profile_values_and_description() -> None:
    docs = {d.name: d for d in field_docs(ReadoutCheckConfig)}
    n_pairs = docs["n_pairs"]
    assert (n_pairs.type, n_pairs.default) == ("int", 48)
    assert n_pairs.per_profile == {"quick": 16, "demo": 48, "full": 48}
    assert n_pairs.description == "Statement pairs used (the first n of the stimulus file)."
    assert docs["damage_texts"].type == "int in [2, 80]"
    assert docs["stimuli"].profiles_text() == "every profile"
    assert docs["profile"].per_profile == {"quick": "quick", "demo": "demo", "full": "full"}
    assert list(docs)[:3] == ["profile", "seed", "min_n_per_cell"]


def test_type_labels_show_choices_unions_and_bounds() -> None:
    assert type_label(Literal["low", "high"] | int) == "'low' | 'high' | int"
    assert type_label(str | None) == "str | None"
    assert type_label(Annotated[int, Field(ge=1)] | None) == "int >= 1 | None"
    assert type_label(float, Field(gt=0.5, lt=1).metadata) == "float in (0.5, 1)"
    assert type_label(float, Field(le=2).metadata) == "float <= 2"


def test_rendered_fields_wrap_at_the_width_and_indent_descriptions() -> None:
    lines = render_fields(ReadoutCheckConfig, width=60)
    assert all(len(line) <= 60 for line in lines)
    start = lines.index("  n_pairs: int = 48 (quick 16, demo 48, full 48)")
    assert lines[start + 1].startswith("      Statement pairs used")


def test_studies_details_prints_each_field_with_type_default_profiles_and_description() -> None:
    result = CliRunner().invoke(app, ["studies", "readout-check", "--details"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "readout-check" in out and "entanglement" not in out
    assert "  n_pairs: int = 48 (quick 16, demo 48, full 48)\n" in out
    assert "      Statement pairs used (the first n of the stimulus file).\n" in out
    assert "  damage_texts: int in [2, 80] = 16 (quick 4, demo 16, full 80)\n" in out
    assert "  min_n_per_cell: int = 12 (quick 8, demo 12, full 12)\n" in out
    for name in ReadoutCheckConfig.model_fields:
        assert f"\n  {name}: " in out


def test_studies_details_covers_every_study_and_rejects_an_unknown_one() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["studies", "--details"])
    assert result.exit_code == 0
    for name, cls in studies().items():
        assert f"\n{name}" in result.output
        for field in cls.Config.model_fields:
            assert f"  {field}: " in result.output
    bad = runner.invoke(app, ["studies", "no-such-study"])
    assert bad.exit_code == 2 and "known studies: readout-check" in bad.output
