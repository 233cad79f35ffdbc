"""ValueBench's Schwartz PVQ-40 items (Value4AI/ValueBench ``value_orientation.csv``), as value statements.

The file holds 1,988 items of 44 inventories, columns ``questionnaire,item,value,agreement,question``;
the 40 rows with ``questionnaire`` ``PVQ40`` are Schwartz's Portrait Values Questionnaire, ``value`` a basic
value (``Self-Direction``), ``agreement`` +1, or -1 for a reverse-keyed item. :func:`load_pvq40` returns
them in the schema of :func:`valuescope.studies.mechanisms.stimuli.load_statements`, so the two can be
stacked.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import (
    StimulusError,
    check_header,
    check_width,
    fail,
    read_records,
    value_cell,
)

VALUEBENCH_FILE = "valuebench/value_orientation.csv"
"""The ValueBench file, relative to the data folder."""

PVQ40 = "PVQ40"
COLUMNS = ("questionnaire", "item", "value", "agreement")


def load_pvq40(path: str | Path) -> pd.DataFrame:
    """The PVQ-40 rows of ValueBench's ``value_orientation.csv``.

    Columns ``statement_id`` (``pvq40-1`` .. in file order), ``value`` (canonical), ``reverse`` (bool,
    ``agreement`` -1), ``text`` (the item) and ``questionnaire`` (``PVQ40``).
    """
    source, header, records = read_records(path, "")
    check_header(source, header, COLUMNS)
    at = {c: header.index(c) for c in COLUMNS}
    rows: list[tuple[str, str, bool, str, str]] = []
    for line, cells in records:
        check_width(source, header, line, cells)
        if cells[at["questionnaire"]] != PVQ40:
            continue
        item, name, agreement = cells[at["item"]], cells[at["value"]], cells[at["agreement"]]
        if not item:
            raise fail(source, line, "item", "empty", "give every PVQ40 row its item text")
        value = value_cell(name, source, line)
        if agreement not in ("1", "-1", "+1", "1.0", "-1.0"):
            raise fail(
                source,
                line,
                "agreement",
                f"{agreement!r} is not 1 or -1",
                "write 1 for an item that agreeing with expresses the value, -1 if reverse-keyed",
            )
        rows.append((f"pvq40-{len(rows) + 1}", value, agreement.startswith("-"), item, PVQ40))
    if not rows:
        raise StimulusError(
            f"{source}: column 'questionnaire': no {PVQ40} rows; point the loader at ValueBench's "
            f"{VALUEBENCH_FILE}, which holds the 40 PVQ40 items"
        )
    df = pd.DataFrame(rows, columns=["statement_id", "value", "reverse", "text", "questionnaire"])
    return df.astype(
        {"statement_id": object, "value": object, "reverse": bool, "text": object, "questionnaire": object}
    )


def load_value_orientation(path: str | Path) -> pd.DataFrame:
    """Every item of ValueBench's ``value_orientation.csv``, for polarity: does the item affirm its value.

    Columns ``questionnaire`` (the inventory, the grouping unit), ``item``, ``value`` (the inventory's own
    name for the construct, e.g. ``Preference for Order and Structure``) and ``agreement`` (+1 if agreeing
    with the item expresses the value, -1 if reverse-keyed).
    """
    source, header, records = read_records(path, "")
    check_header(source, header, COLUMNS)
    at = {c: header.index(c) for c in COLUMNS}
    rows: list[tuple[str, str, str, int]] = []
    for line, cells in records:
        check_width(source, header, line, cells)
        for column in COLUMNS[:3]:
            if not cells[at[column]]:
                raise fail(source, line, column, "empty", f"give every row its {column}")
        agreement = cells[at["agreement"]]
        if agreement not in ("1", "-1", "+1", "1.0", "-1.0"):
            fix = "write 1 for an item that agreeing with expresses the value, -1 if reverse-keyed"
            raise fail(source, line, "agreement", f"{agreement!r} is not 1 or -1", fix)
        rows.append((cells[at["questionnaire"]], cells[at["item"]], cells[at["value"]],
                     -1 if agreement.startswith("-") else 1))  # fmt: skip
    if not rows:
        raise StimulusError(f"{source}: no items; point the loader at ValueBench's {VALUEBENCH_FILE}")
    return pd.DataFrame(rows, columns=["questionnaire", "item", "value", "agreement"])
