"""Social-Chemistry-101 (Forbes et al. 2020) as moral items: actions (or rules of thumb) with a graded truth.

The user supplies ``social-chem-101/social-chem-101.v1.0.tsv`` under the data folder (it is not shipped):
tab-separated, one row per (situation, rule of thumb, action) annotation, header ``area m split rot-agree
rot-categorization rot-moral-foundations rot-char-targeting rot-bad rot-judgment action action-agency
action-moral-judgment action-agree ... rot rot-id ...``; cells may be empty and hold unbalanced quotes.
The columns read here:

- ``action`` / ``rot``: the text of an item (``unit="action"`` or ``"rot"``).
- ``action-moral-judgment``: -2 (very bad) .. 2 (very good), written like ``-1.0``; the item's pole.
- ``rot-moral-foundations``: pipe-separated, e.g. ``care-harm|loyalty-betrayal``.
- ``action-agree`` / ``rot-agree``: 0..4, how many people would agree (0 < 1%, 1 = 5-25%, 2 ~ 50%,
  3 = 75-90%, 4 > 99%).
- ``rot-bad``: 1 flags a rule of thumb the annotators marked as bad.
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from valuescope.data.csvfile import StimulusError, utf8_lines
from valuescope.data.moral_items import (
    FOUNDATIONS,
    ITEM_COLUMNS,
    VECTOR_COLUMNS,
    LoadedItems,
    canonical_foundation,
    check_items,
)

SOCIAL_CHEM_FILE = "social-chem-101/social-chem-101.v1.0.tsv"
"""The Social-Chemistry-101 TSV, relative to the data folder."""
SOURCE = "social-chem-101"
JUDGMENT = "action-moral-judgment"
FOUNDATION_COLUMN = "rot-moral-foundations"

NEUTRAL = "neutral judgment (0)"
LOW_AGREEMENT = "annotator agreement below min_agree"
NO_FOUNDATION = "no moral foundation"
CONFLICT = "conflicting judgments"
BAD_ROT = "rot-bad (annotators flagged the rule of thumb)"
_UNPARSEABLE = "unparseable {column}"
_EXTRA = ("judgment", "agreement", "n_rows")


def _construction(unit: str, agree: str, min_agree: int, drop_bad: bool) -> str:
    return (
        f"One item per unique {unit} text (lowercased, whitespace collapsed: the lemma, so repeats of a "
        f"text never straddle a split). Its rows are the Social-Chem annotations of that {unit}"
        f"{' with rot-bad rows left out' if drop_bad else ''}, each needing a non-zero {JUDGMENT} "
        f"(-2..2; 0 is dropped, not made neutral), {agree} >= {min_agree} (0..4) and one or more known "
        f"{FOUNDATION_COLUMN}. The item's judgment and agreement are the means over its rows (rows whose "
        "judgments differ in sign are all dropped as conflicting) and its foundations the union of theirs. "
        f"Kind: virtue if the judgment is positive, vice if negative. Typicality = (|judgment| / 2) x "
        f"({agree} / 4), in [0, 1]. The 10-d vector holds that typicality at the judgment's pole of every "
        "foundation listed and 0 elsewhere; n_foundations counts them. Every listed foundation has the "
        "same strength, so, following moral_items.MULTI_FOUNDATION_RULE (the strongest rating is primary, "
        "ties to the first in care, fairness, loyalty, authority, sanctity order), the primary foundation "
        "(the `foundation` column, whose pole and typicality give kind and typicality) is the first of the "
        "item's foundations in that order. Extra columns: judgment and agreement (the means) and n_rows. "
        "`kept` counts the rows merged into items."
    )


@dataclass
class _Group:
    text: str
    line: int
    judgments: list[float] = field(default_factory=list)
    agreements: list[float] = field(default_factory=list)
    foundations: set[str] = field(default_factory=set)


def _number(cell: str, low: float, high: float) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def load_social_chem(
    path: str | Path,
    *,
    unit: Literal["action", "rot"] = "action",
    min_agree: int = 2,
    max_rows: int | None = None,
    drop_bad: bool = True,
) -> LoadedItems:
    """Social-Chem-101 actions (or rules of thumb, ``unit="rot"``) as items in the ITEM_COLUMNS schema.

    Reads the first ``max_rows`` data rows only if given. Every row left out is counted under its reason
    in ``dropped`` (unparseable numbers under ``unparseable <column> (first at line N)``); the rule is in
    ``construction``. Raises :class:`StimulusError` on a header missing a needed column, or when no row
    is usable (with the drop counts).
    """
    if unit not in ("action", "rot"):
        raise ValueError(f"unit={unit!r}; use 'action' (the actions) or 'rot' (the rules of thumb)")
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows={max_rows!r}; pass a positive number of rows or None for all")
    source = str(path)
    agree_column = "action-agree" if unit == "action" else "rot-agree"
    needed = [unit, JUDGMENT, agree_column, FOUNDATION_COLUMN] + (["rot-bad"] if drop_bad else [])
    dropped: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    groups: dict[str, _Group] = {}

    def drop(reason: str, line: int) -> None:
        dropped[reason] += 1
        first_line.setdefault(reason, line)

    with contextlib.closing(utf8_lines(path)) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [c.strip() for c in next(reader, [])]
        missing = [c for c in needed if c not in header]
        if missing:
            raise StimulusError(
                f"{source}: row 1 (header): missing columns {', '.join(missing)}; expected Social-Chem-101's "
                f"tab-separated {SOCIAL_CHEM_FILE} with a header naming (among others) {', '.join(needed)}"
            )
        at = {c: header.index(c) for c in needed}
        for n_read, cells in enumerate(reader, start=1):
            if max_rows is not None and n_read > max_rows:
                break
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                drop(f"{len(cells)} cells for {len(header)} columns", line)
                continue
            text = cells[at[unit]].strip()
            if not text:
                drop(f"empty {unit}", line)
                continue
            if drop_bad and _number(cells[at["rot-bad"]].strip() or "0", 0, 1) == 1:
                drop(BAD_ROT, line)
                continue
            judgment = _number(cells[at[JUDGMENT]].strip(), -2, 2)
            if judgment is None:
                drop(_UNPARSEABLE.format(column=JUDGMENT), line)
                continue
            if judgment == 0:
                drop(NEUTRAL, line)
                continue
            agreement = _number(cells[at[agree_column]].strip(), 0, 4)
            if agreement is None:
                drop(_UNPARSEABLE.format(column=agree_column), line)
                continue
            if agreement < min_agree:
                drop(LOW_AGREEMENT, line)
                continue
            names = [n.strip() for n in cells[at[FOUNDATION_COLUMN]].split("|") if n.strip()]
            if not names:
                drop(NO_FOUNDATION, line)
                continue
            canonical = [canonical_foundation(n) for n in names]
            unknown = [n for n, c in zip(names, canonical, strict=True) if c is None]
            if unknown:
                drop(f"unknown moral foundation {unknown[0]!r}", line)
                continue
            group = groups.setdefault(_normalise(text), _Group(text=text, line=line))
            group.judgments.append(judgment)
            group.agreements.append(agreement)
            group.foundations.update(c for c in canonical if c is not None)

    rows = []
    for lemma, group in groups.items():
        if min(group.judgments) < 0 < max(group.judgments):
            dropped[CONFLICT] += len(group.judgments)
            first_line.setdefault(CONFLICT, group.line)
            continue
        rows.append(_item(lemma, group, unit))
    kept = sum(len(g.judgments) for g in groups.values()) - dropped[CONFLICT]
    reasons = {
        (f"{r} (first at line {first_line[r]})" if r.startswith("unparseable") else r): n
        for r, n in dropped.items()
    }
    if not rows:
        counts = ", ".join(f"{r}: {n}" for r, n in reasons.items()) or "the file has no data rows"
        raise StimulusError(
            f"{source}: no usable {unit}s (dropped {counts}); check that this is Social-Chem-101's "
            f"{SOCIAL_CHEM_FILE}, or lower min_agree={min_agree}"
        )
    items = check_items(pd.DataFrame(rows, columns=[*ITEM_COLUMNS, *_EXTRA]), source)
    return LoadedItems(
        items=items,
        source=source,
        kept=kept,
        dropped=reasons,
        construction=_construction(unit, agree_column, min_agree, drop_bad),
        unit="rows",
    )


def _item(lemma: str, group: _Group, unit: str) -> dict[str, object]:
    judgment = sum(group.judgments) / len(group.judgments)
    agreement = sum(group.agreements) / len(group.agreements)
    typicality = (abs(judgment) / 2) * (agreement / 4)
    pole = "virtue" if judgment > 0 else "vice"
    listed = [f for f in FOUNDATIONS if f in group.foundations]
    vector = {c: 0.0 for c in VECTOR_COLUMNS} | {f"{f}_{pole}": typicality for f in listed}
    return {
        "item_id": f"socialchem-{unit}-{group.line}",
        "text": group.text,
        "lemma": lemma,
        "kind": pole,
        "foundation": listed[0],
        "typicality": typicality,
        **vector,
        "n_foundations": len(listed),
        "source": SOURCE,
        "judgment": judgment,
        "agreement": agreement,
        "n_rows": len(group.judgments),
    }
