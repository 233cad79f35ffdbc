"""Studies by name: the built-in ones, any registered at run time, and any installed by another
package under the entry-point group ``valuescope.studies``."""

from __future__ import annotations

from importlib.metadata import entry_points

from valuescope.studies.atlas import Atlas
from valuescope.studies.entanglement import Entanglement
from valuescope.studies.indifference import Indifference
from valuescope.studies.lexicon import Lexicon
from valuescope.studies.mechanisms import Mechanisms
from valuescope.studies.protocol import Study
from valuescope.studies.readout_check import ReadoutCheck

BUILT_IN: dict[str, type[Study]] = {
    cls.name: cls for cls in (ReadoutCheck, Entanglement, Mechanisms, Indifference, Lexicon, Atlas)
}

ENTRY_POINTS = "valuescope.studies"
_ADDED: dict[str, type[Study]] = {}


def register(cls: type[Study]) -> type[Study]:
    """Make a study available by its ``name`` (usable as a class decorator)."""
    known = studies()
    if cls.name in known and known[cls.name] is not cls:
        raise ValueError(f"two studies are named {cls.name!r}")
    _ADDED[cls.name] = cls
    return cls


def studies() -> dict[str, type[Study]]:
    """Every available study by name: built-in first, then plug-ins, then those registered here."""
    found: dict[str, type[Study]] = dict(BUILT_IN)
    for ep in entry_points(group=ENTRY_POINTS):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Study)):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not a valuescope Study subclass")
        found.setdefault(cls.name, cls)
    found.update(_ADDED)
    return found


def get_study(name: str) -> Study:
    """The study ``name``; a clear error lists the known ones."""
    known = studies()
    if name not in known:
        raise ValueError(
            f"unknown study {name!r}; known studies: {', '.join(known)} (see `valuescope studies`)"
        )
    return known[name]()


def with_reads(names: list[str]) -> list[str]:
    """``studies`` with every study one of them ``reads`` added, each read study before its readers."""
    out: list[str] = []

    def add(name: str) -> None:
        if name in out:
            return
        for other in get_study(name).reads:
            add(other)
        out.append(name)

    for name in names:
        add(name)
    return out


def task_groups(names: list[str]) -> dict[str, list[str]]:
    """``names`` grouped as one worker runs them on a model, by the group's last study: a study that
    another planned study reads runs in its reader's group, before it; every other study alone."""
    read_by = {r: s for s in names for r in get_study(s).reads if r in names}
    return {
        s: [r for r in with_reads([s]) if r != s and read_by.get(r) == s] + [s]
        for s in names
        if s not in read_by
    }


def task_group(names: list[str], study: str) -> list[str]:
    """The studies one worker runs for ``study``'s task among ``names`` (see :func:`task_groups`)."""
    return task_groups(names).get(study, [study])
