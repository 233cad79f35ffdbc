"""Touché23-ValueEval: arguments labelled by people for 20 value categories refined from Schwartz.

The folder holds ``arguments-{split}.tsv`` (``Argument ID``, ``Conclusion``, ``Stance``, ``Premise``),
``labels-{split}.tsv`` (``Argument ID`` and one 0/1 column per category) for the official ``training``
and ``validation`` splits, and ``value-categories.json`` (category -> {value: [example effects]}).
:func:`load_touche` joins one split into a frame with a ``text`` column ("conclusion, stance, premise")
and one bool column per category; :func:`touche_categories` gives each category's description built
from its example effects. A category's Schwartz value is :data:`SCHWARTZ_OF`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import StimulusError, read_text

TOUCHE_DIR = "touche23"
"""The Touché23 folder, relative to the data folder."""
SPLITS = ("training", "validation")
ARGUMENT_COLUMNS = ("Argument ID", "Conclusion", "Stance", "Premise")

SCHWARTZ_OF: dict[str, str] = {
    "Self-direction: thought": "self_direction",
    "Self-direction: action": "self_direction",
    "Stimulation": "stimulation",
    "Hedonism": "hedonism",
    "Achievement": "achievement",
    "Power: dominance": "power",
    "Power: resources": "power",
    "Face": "power",
    "Security: personal": "security",
    "Security: societal": "security",
    "Tradition": "tradition",
    "Conformity: rules": "conformity",
    "Conformity: interpersonal": "conformity",
    "Humility": "tradition",
    "Benevolence: caring": "benevolence",
    "Benevolence: dependability": "benevolence",
    "Universalism: concern": "universalism",
    "Universalism: nature": "universalism",
    "Universalism: tolerance": "universalism",
    "Universalism: objectivity": "universalism",
}
"""The Schwartz basic value each category refines (Schwartz et al. 2012; Face and Humility sit on the
border of power and security, and of conformity and universalism; they go with their nearer value)."""


def _tsv(path: Path, columns: tuple[str, ...] | None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line, cells) of a tab-separated file whose cells hold no tabs (Touché's own format)."""
    lines = read_text(path).splitlines()
    if not lines or not lines[0].strip():
        raise StimulusError(f"{path}: row 1: the file is empty; it needs a header row")
    header = [c.strip() for c in lines[0].split("\t")]
    if columns is not None:
        missing = [c for c in columns if c not in header]
        if missing:
            raise StimulusError(
                f"{path}: row 1 (header), column {missing[0]!r}: missing; the header must name "
                f"{', '.join(columns)} (tab-separated)"
            )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise StimulusError(
                f"{path}: row {number}: {len(cells)} tab-separated cells for {len(header)} columns; "
                "a cell must not contain a tab"
            )
        rows.append((number, [c.strip() for c in cells]))
    return header, rows


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; point at a Touché23-ValueEval folder with "
            "arguments-{training,validation}.tsv, labels-{training,validation}.tsv and value-categories.json"
        )
    return path


def load_touche(folder: str | Path, split: str) -> pd.DataFrame:
    """One split: ``argument_id``, ``conclusion``, ``stance``, ``premise``, ``text`` and a bool column per
    category (in the labels file's order). Every argument must have exactly one labels row."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}; choose one of {', '.join(SPLITS)}")
    folder = Path(folder)
    args_path, labels_path = _file(folder, f"arguments-{split}.tsv"), _file(folder, f"labels-{split}.tsv")
    header, rows = _tsv(args_path, ARGUMENT_COLUMNS)
    at = {c: header.index(c) for c in ARGUMENT_COLUMNS}
    arguments: dict[str, tuple[str, str, str]] = {}
    for number, cells in rows:
        aid = cells[at["Argument ID"]]
        if aid in arguments:
            raise StimulusError(
                f"{args_path}: row {number}, column 'Argument ID': {aid!r} repeats an earlier row"
            )
        for column in ("Conclusion", "Premise"):
            if not cells[at[column]]:
                raise StimulusError(
                    f"{args_path}: row {number}, column {column!r}: empty; give the argument text"
                )
        stance = cells[at["Stance"]].replace("in favour of", "in favor of")
        if stance not in ("in favor of", "against"):
            raise StimulusError(
                f"{args_path}: row {number}, column 'Stance': {stance!r}; write 'in favor of' or 'against'"
            )
        arguments[aid] = (cells[at["Conclusion"]], stance, cells[at["Premise"]])
    label_header, label_rows = _tsv(labels_path, ("Argument ID",))
    categories = [c for c in label_header if c != "Argument ID"]
    unknown = [c for c in categories if c not in SCHWARTZ_OF]
    if unknown:
        raise StimulusError(
            f"{labels_path}: row 1 (header), column {unknown[0]!r}: not a Touché23 value category; "
            f"the categories are {', '.join(SCHWARTZ_OF)}"
        )
    records = []
    seen: set[str] = set()
    for number, cells in label_rows:
        row = dict(zip(label_header, cells, strict=True))
        aid = row["Argument ID"]
        if aid not in arguments:
            raise StimulusError(f"{labels_path}: row {number}, column 'Argument ID': {aid!r} has no argument")
        if aid in seen:
            raise StimulusError(f"{labels_path}: row {number}, column 'Argument ID': {aid!r} repeats")
        seen.add(aid)
        for c in categories:
            if row[c] not in ("0", "1"):
                raise StimulusError(f"{labels_path}: row {number}, column {c!r}: {row[c]!r} is not 0 or 1")
        conclusion, stance, premise = arguments[aid]
        records.append(
            {
                "argument_id": aid,
                "conclusion": conclusion,
                "stance": stance,
                "premise": premise,
                "text": f"{conclusion}. {stance.capitalize()}: {premise}",
                **{c: row[c] == "1" for c in categories},
            }
        )
    missing = sorted(set(arguments) - seen)
    if missing:
        raise StimulusError(
            f"{labels_path}: argument {missing[0]!r} ({len(missing)} in all) has no labels row"
        )
    return pd.DataFrame(records)


def touche_categories(folder: str | Path) -> pd.DataFrame:
    """``category``, ``schwartz`` and ``description`` (its values and example effects, one sentence)."""
    path = _file(Path(folder), "value-categories.json")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise StimulusError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise StimulusError(f"{path}: the top level must map each category to its values")
    rows = []
    for category, values in data.items():
        if category not in SCHWARTZ_OF or not isinstance(values, dict):
            raise StimulusError(f"{path}: key {category!r}: not a Touché23 category mapped to its values")
        effects = [e for examples in values.values() for e in examples]
        description = f"{category}: {'; '.join(values)} ({', '.join(effects)})"
        rows.append({"category": category, "schwartz": SCHWARTZ_OF[category], "description": description})
    return pd.DataFrame(rows)
