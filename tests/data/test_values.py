"""The ten Schwartz values: every spelling in the real sources and authored files maps to one name."""

from __future__ import annotations

import csv
import io
import itertools
import json
from importlib import resources
from pathlib import Path

import pytest

from valuescope.data.valuebench import VALUEBENCH_FILE
from valuescope.data.valueportrait import VALUEPORTRAIT_HUMANS, VALUEPORTRAIT_RESPONSES
from valuescope.data.values import (
    HIGHER_ORDER,
    LABELS,
    SCHWARTZ_VALUES,
    VALUE_DESCRIPTIONS,
    UnknownValueError,
    canonical_value,
    circle_position,
    circular_distance,
)


def spellings(value: str) -> list[str]:
    words = value.split("_")
    title = [w.capitalize() for w in words]
    return [
        value,
        LABELS[value],  # ValueBench PVQ40: Self-Direction
        "_".join(title),  # ValuePortrait: Self_Direction
        "-".join(words),
        " ".join(title),
        "".join(title),
        value.upper(),
        LABELS[value].lower(),
        f"  {LABELS[value]}\t",
    ]


@pytest.mark.parametrize("value", SCHWARTZ_VALUES)
def test_every_spelling_of_a_value_maps_to_its_canonical_name(value: str) -> None:
    for spelling in spellings(value):
        assert canonical_value(spelling) == value, spelling


def test_the_circle_holds_the_ten_values_in_schwartz_order() -> None:
    assert len(SCHWARTZ_VALUES) == len(set(SCHWARTZ_VALUES)) == 10
    assert set(LABELS) == set(VALUE_DESCRIPTIONS) == set(SCHWARTZ_VALUES)
    assert LABELS["self_direction"] == "Self-Direction"
    assert [circle_position(v) for v in SCHWARTZ_VALUES] == list(range(10))
    assert circle_position("Self_Direction") == 0 and circle_position("Universalism") == 9
    assert circular_distance("universalism", "self_direction") == 1  # the circle closes
    assert circular_distance("power", "universalism") == 5
    assert circular_distance("achievement", "benevolence") == 5
    assert circular_distance("conformity", "tradition") == 1  # one wedge, placed side by side
    assert circular_distance("security", "Security") == 0


def test_higher_order_values_partition_the_ten_into_contiguous_arcs() -> None:
    members = [v for group in HIGHER_ORDER.values() for v in group]
    assert sorted(members) == sorted(SCHWARTZ_VALUES)
    assert HIGHER_ORDER["openness_to_change"] == ("self_direction", "stimulation", "hedonism")
    for group in HIGHER_ORDER.values():
        positions = [circle_position(v) for v in group]
        assert all(circular_distance(a, b) == 1 for a, b in itertools.pairwise(group)), positions


def test_every_value_has_three_distinct_descriptions() -> None:
    texts = [t for v in SCHWARTZ_VALUES for t in VALUE_DESCRIPTIONS[v]]
    assert all(len(VALUE_DESCRIPTIONS[v]) == 3 for v in SCHWARTZ_VALUES)
    assert len(set(texts)) == 30
    assert all(8 <= len(t.split()) <= 20 and t.endswith(".") for t in texts)


def test_unknown_names_raise_naming_the_source_the_name_and_the_ten() -> None:
    with pytest.raises(UnknownValueError) as e:
        canonical_value("Kindness", source="my.csv row 4")
    message = str(e.value)
    assert "my.csv row 4" in message and "'Kindness'" in message
    assert all(v in message for v in SCHWARTZ_VALUES)
    assert isinstance(e.value, ValueError)
    for bad in ("", "  ", "self direction please", "Universalism-Nature"):
        with pytest.raises(UnknownValueError):
            canonical_value(bad)


@pytest.mark.parametrize(
    "name",
    ["Self_Enhancement", "Self_Transcendence", "Openness_to_Change", "Conservation", "openness to change"],
)
def test_higher_order_names_raise_saying_they_are_not_basic_values(name: str) -> None:
    with pytest.raises(UnknownValueError, match=r"higher-order values such as .* are not basic values") as e:
        canonical_value(name, source="portrait.json")
    assert "portrait.json" in str(e.value) and name in str(e.value)
    group = HIGHER_ORDER[name.lower().replace(" ", "_")]
    assert f"({', '.join(group)})" in str(e.value)


def test_every_name_in_the_real_sources_and_authored_files_is_canonicalised(shared_data: Path) -> None:
    names: set[str] = set()
    with (shared_data / VALUEBENCH_FILE).open(encoding="utf-8") as f:
        names |= {row["value"] for row in csv.DictReader(f) if row["questionnaire"] == "PVQ40"}
    for query in json.loads((shared_data / VALUEPORTRAIT_RESPONSES).read_text(encoding="utf-8")):
        for output in query["outputs"]:
            names |= {name for name, _ in output["correlations"]}
    humans = json.loads((shared_data / VALUEPORTRAIT_HUMANS).read_text(encoding="utf-8"))
    for person in humans.values():
        names |= set(person["pvq"])
    for default in ("mechanisms_framings.csv", "mechanisms_statements.csv"):
        text = resources.files("valuescope.data").joinpath(default).read_text(encoding="utf-8")
        names |= {row["value"] for row in csv.DictReader(io.StringIO(text))}
    assert {"Self-Direction", "Self_Direction", "self_direction"} <= names
    assert {canonical_value(n) for n in names} == set(SCHWARTZ_VALUES)
    higher = {name for person in humans.values() for name in person["higher_pvq"]}
    assert higher == {"Self_Enhancement", "Self_Transcendence", "Openness_to_Change", "Conservation"}
    for name in higher:
        with pytest.raises(UnknownValueError, match="higher-order"):
            canonical_value(name)
