"""A user's own human labels for checking an instrument: ``text,value,label`` rows, optionally ``group``
(the sampling unit: an author, a conversation) and ``context`` (the question a text answers).

``label`` is 1 / 0 (also true/false, yes/no, +1/-1): whether the text expresses the value (for the value
labeller, ``value`` is one of the ten Schwartz values in any spelling) or affirms it rather than negates
it (for the projective scorer, ``value`` is any value named in words).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import LINE, fail, finish, read_frame, value_cell

LABELLED_COLUMNS = ("text", "value", "label")
_TRUE = {"1", "+1", "true", "yes", "y"}
_FALSE = {"0", "-1", "false", "no", "n"}


def load_labelled_texts(path: str | Path, *, schwartz: bool) -> pd.DataFrame:
    """``text``, ``value``, ``label`` (bool), ``group`` and ``context`` (the text where none is given);
    ``schwartz``: values must name a Schwartz value (returned canonical). Every value needs both labels."""
    source, df = read_frame(path, "", LABELLED_COLUMNS)
    labels = []
    for cell, line in zip(df["label"], df[LINE], strict=True):
        key = str(cell).strip().lower()
        if key not in _TRUE | _FALSE:
            raise fail(source, line, "label", f"{cell!r} is not a label", "write 1 or 0 (true/false, yes/no)")
        labels.append(key in _TRUE)
    df["label"] = labels
    if schwartz:
        df["value"] = [value_cell(v, source, line) for v, line in zip(df["value"], df[LINE], strict=True)]
    df["group"] = df["group"] if "group" in df.columns else [str(line) for line in df[LINE]]
    if "context" not in df.columns:
        df["context"] = df["text"]
    for value, rows in df.groupby("value", sort=False):
        if rows["label"].all() or not rows["label"].any():
            kind = "negative" if rows["label"].all() else "positive"
            raise fail(source, int(rows[LINE].iloc[0]), "label", f"value {value!r} has no {kind} row",
                       "give every value texts labelled 1 and texts labelled 0")  # fmt: skip
    return finish(df[["text", "value", "label", "group", "context", LINE]])
