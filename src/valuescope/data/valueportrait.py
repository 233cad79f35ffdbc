"""ValuePortrait (holi-lab/ValuePortrait): real user queries with value-tagged responses; human PVQ scores.

``query-response-tagged.json`` is a list of queries ``{portrait_id, content: {title, text}, outputs}``;
``title`` may be null (LMSYS / ShareGPT prompts have only a text). Each output is
``{id, content, correlations, ...}`` with ``correlations`` a list of ``[value, r]`` pairs, one per Schwartz
value: how the response's endorsement by human raters correlates with the raters' own PVQ score on that
value. ``human-value-scores.json`` maps a participant id to ``{pvq: {value: score}, higher_pvq, bfi}``,
the PVQ-21 scores centred on each participant's mean. Values are spelled ``Self_Direction``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.data.csvfile import StimulusError, read_text
from valuescope.data.values import SCHWARTZ_VALUES, UnknownValueError, canonical_value

VALUEPORTRAIT_RESPONSES = "valueportrait/query-response-tagged.json"
"""The tagged queries and responses, relative to the data folder."""
VALUEPORTRAIT_HUMANS = "valueportrait/human-value-scores.json"
"""The participants' value scores, relative to the data folder."""

RESPONSE_COLUMNS = ("query_id", "response_id", "query", "response", *SCHWARTZ_VALUES)


def _load(path: str | Path, kind: type, what: str) -> Any:
    source = str(path)
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise StimulusError(f"{source}: line {e.lineno}: not valid JSON ({e.msg}); {what}") from None
    if not isinstance(data, kind):
        raise StimulusError(
            f"{source}: the top level is a {type(data).__name__}, not a {kind.__name__}; {what}"
        )
    return data


def _key(source: str, where: str, record: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(record, dict):
        raise StimulusError(f"{source}: {where}: a {type(record).__name__}, not an object with {key!r}")
    if key not in record:
        raise StimulusError(f"{source}: {where}: missing key {key!r}; every entry needs it")
    value = record[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise StimulusError(f"{source}: {where}, key {key!r}: a {type(value).__name__}, not a {names}")
    return value


def _number(source: str, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StimulusError(f"{source}: {where}: {value!r} is not a finite number")
    return float(value)


def _ten(source: str, where: str, pairs: list[tuple[Any, Any]]) -> dict[str, float]:
    """``{value: number}`` from (name, number) pairs naming each Schwartz value exactly once."""
    out: dict[str, float] = {}
    for name, number in pairs:
        try:
            value = canonical_value(name, f"{source}: {where}") if isinstance(name, str) else None
        except UnknownValueError as e:
            raise StimulusError(str(e)) from None
        if value is None:
            raise StimulusError(f"{source}: {where}: value name {name!r} is not a string")
        if value in out:
            raise StimulusError(f"{source}: {where}: {value} appears twice; each value must appear once")
        out[value] = _number(source, f"{where}, {value}", number)
    missing = [v for v in SCHWARTZ_VALUES if v not in out]
    if missing:
        raise StimulusError(
            f"{source}: {where}: missing {', '.join(missing)}; each of the ten values must appear once"
        )
    return out


def load_valueportrait_responses(path: str | Path) -> pd.DataFrame:
    """One row per response: ``query_id`` (the query's index in the file), ``response_id`` (the output's
    ``id``), ``query`` (title, blank line, text; or whichever is present), ``response``, and one float
    column per canonical value with the response's ``correlations`` entry."""
    source = str(path)
    queries = _load(path, list, "expected ValuePortrait's list of queries")
    rows: list[dict[str, Any]] = []
    for i, entry in enumerate(queries):
        where = f"query {i}"
        content = _key(source, where, entry, "content", dict)
        parts = [content.get(k) for k in ("title", "text")]
        if not all(p is None or isinstance(p, str) for p in parts):
            raise StimulusError(f"{source}: {where}, key 'content': title and text must be strings or null")
        query = "\n\n".join(p.strip() for p in parts if p and p.strip())
        if not query:
            raise StimulusError(f"{source}: {where}, key 'content': no title or text")
        seen: set[Any] = set()
        for j, output in enumerate(_key(source, where, entry, "outputs", list)):
            response_id = _key(source, f"{where}, output {j}", output, "id", (int, str))
            at = f"{where}, output id {response_id}"
            if response_id in seen:
                raise StimulusError(f"{source}: {at}: the id repeats within the query; ids must be unique")
            seen.add(response_id)
            response = _key(source, at, output, "content", str)
            pairs = _key(source, at, output, "correlations", list)
            if not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
                raise StimulusError(f"{source}: {at}, key 'correlations': expected [value, r] pairs")
            scores = _ten(source, f"{at}, correlations", [tuple(p) for p in pairs])
            rows.append(
                {"query_id": i, "response_id": response_id, "query": query, "response": response, **scores}
            )
    if not rows:
        raise StimulusError(f"{source}: no responses; expected ValuePortrait's {VALUEPORTRAIT_RESPONSES}")
    df = pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS))
    return df.astype({"query": object, "response": object, **dict.fromkeys(SCHWARTZ_VALUES, float)})


def load_human_pvq(path: str | Path) -> pd.DataFrame:
    """Participants' PVQ scores: index ``participant`` (the file's ids), one float column per canonical
    value in :data:`~valuescope.data.values.SCHWARTZ_VALUES` order."""
    source = str(path)
    people = _load(path, dict, "expected ValuePortrait's {participant id: {pvq: ...}} object")
    if not people:
        raise StimulusError(f"{source}: no participants; expected ValuePortrait's {VALUEPORTRAIT_HUMANS}")
    rows = []
    for participant, record in people.items():
        where = f"participant {participant!r}"
        pvq = _key(source, where, record, "pvq", dict)
        scores = _ten(source, f"{where}, pvq", list(pvq.items()))
        rows.append([scores[v] for v in SCHWARTZ_VALUES])
    index = pd.Index(list(people), name="participant", dtype=object)
    return pd.DataFrame(rows, index=index, columns=list(SCHWARTZ_VALUES), dtype=float)


def human_value_correlations(scores: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlations between the ten values over participants (rows of ``scores``), 10 x 10 with
    index and columns in :data:`~valuescope.data.values.SCHWARTZ_VALUES` order."""
    missing = [v for v in SCHWARTZ_VALUES if v not in scores.columns]
    if missing:
        raise ValueError(
            f"scores lack the columns {', '.join(missing)}; pass one column per canonical value, "
            "as load_human_pvq returns"
        )
    values = list(SCHWARTZ_VALUES)
    return scores[values].astype(float).corr(method="pearson").reindex(index=values, columns=values)
