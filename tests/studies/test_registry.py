"""Studies are found by name: built-in, registered at run time, or from another package's entry point."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from valuescope.studies import registry
from valuescope.studies.protocol import Step, Study


class Extra(Study):
    name = "extra-check"
    title = "An extra study"
    description = "Registered by a test."

    def steps(self, config):  # type: ignore[no-untyped-def]
        return [Step("nothing", lambda ctx: None, needs="none")]


@pytest.fixture
def clean() -> Iterator[None]:
    yield
    registry._ADDED.pop("extra-check", None)


def test_built_in_studies_are_listed() -> None:
    assert "readout-check" in registry.studies()
    assert registry.get_study("readout-check").name == "readout-check"


def test_a_registered_study_is_found_and_a_clash_refused(clean: None) -> None:
    registry.register(Extra)
    assert isinstance(registry.get_study("extra-check"), Extra)
    clash = type("Clash", (Extra,), {"name": "readout-check"})
    with pytest.raises(ValueError, match="two studies are named 'readout-check'"):
        registry.register(clash)


def test_an_unknown_study_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown study 'nope'; known studies: readout-check"):
        registry.get_study("nope")
