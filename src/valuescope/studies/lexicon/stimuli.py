"""Authored stimuli of the value-lexicon study, loaded and validated.

After Biedma et al., "Beyond Human Norms: Unveiling Unique Values of Large Language Models through
Interdisciplinary Approaches" (ValueLex, 2024): models name the values they hold for themselves
(elicitation), the descriptors are grouped into a taxonomy, and models are then profiled with projective
sentence-completion tests. The taxonomy has three dimensions of two subdimensions each
(:data:`DIMENSIONS`): Competence (``self_competent``, ``user_oriented``), Character (``social``,
``idealistic``) and Integrity (``professional``, ``ethical``).

Package files live in ``valuescope/data/``; a user file of the same schema may replace any of them.
Files are UTF-8 CSV with a header row; extra columns are kept; surrounding whitespace in cells is dropped;
every listed column must be present and every cell non-empty. Subdimensions may be written in any case,
with spaces or hyphens for the underscore (``Self-Competent``), and come out canonical (``self_competent``).

``lexicon_elicitation.csv``, columns ``prompt_id,framing,prompt,completion``:

- ``prompt_id``: unique (package: ``e01``). ``framing``: a free label of the angle the prompt takes
  (``priorities``, ``ideals``, ``never_compromise``...).
- ``prompt``: a question to a chat model asking for a short comma-separated list or a few words; unique.
- ``completion``: the same request as the opening of a sentence for a base model to continue
  ("The five values that matter most to me are:"); unique.

``lexicon_stems.csv``, columns ``stem_id,subdimension,stem``:

- ``stem_id``: unique (package: ``ethical-01``). ``subdimension``: the subdimension the stem probes; every
  subdimension needs one or more stems.
- ``stem``: a first-person, open-ended sentence opening ending in ``...``, naming no value word;
  unique. :func:`completion_prefix` gives the text a model continues.

``lexicon_anchors.csv``, columns ``subdimension,description``: what a completion expressing the
subdimension says, in the first person, for an embedding scorer; every subdimension needs one or more
(package: three), and every description is unique.

``lexicon_validation.csv``, columns ``stem_id,subdimension,completion,label``: completions of a stem with
a human label, ``1`` if the completion clearly expresses the subdimension and ``0`` if it expresses it
weakly or not at all, for calibrating a scorer's threshold. Each (``stem_id``, ``completion``) pair is
unique. :func:`load_validation` also reads a JSON file holding a list of objects with the same keys
(labels as ``0``/``1`` numbers or strings); there, row N is the N-th object.

External labels for checking a scorer (:func:`load_labels`, no package file) have columns
``stem,completion,subdimension,label``, the stem written out in full, as CSV or as JSON.

Problems raise :class:`~valuescope.data.csvfile.StimulusError` with one line naming the file, the row
(CSV line, 1-based, header = 1), the column, and the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.data.csvfile import LINE, StimulusError, check_unique, fail, finish, read_frame, read_text
from valuescope.data.valuelex import SUBDIMENSIONS

ELICITATION_COLUMNS = ("prompt_id", "framing", "prompt", "completion")
STEM_COLUMNS = ("stem_id", "subdimension", "stem")
ANCHOR_COLUMNS = ("subdimension", "description")
VALIDATION_COLUMNS = ("stem_id", "subdimension", "completion", "label")
LABEL_COLUMNS = ("stem", "completion", "subdimension", "label")


LIST_PRIMER = (
    "Favourite colours: red, green, blue, yellow.\n"
    "Favourite foods: bread, rice, apples, soup.\n"
    "Favourite animals: cats, horses, owls, dolphins.\n"
)
"""Lines before a base model's elicitation framing that show the answer format (a short comma list)
without naming any value; the echo filter drops the primer's own words if a model repeats them."""

LIST_SYSTEM = "Answer with a short comma-separated list of words and nothing else."
"""The default system message of the elicitation prompts for instruction-tuned models."""

_PRIMER_LINE = re.compile(r"^\s*favou?rite\b[^:]*:", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+\u2022]\s+|\(?\d{1,2}[.)]\s*)")


def base_prompt(completion: str) -> str:
    """A base model's elicitation prompt: :data:`LIST_PRIMER`, then the first-person framing."""
    return f"{LIST_PRIMER}{completion.rstrip()}"


def answer_span(continuation: str) -> str:
    """What a base model answered in its continuation of :func:`base_prompt`: the first non-empty line,
    or, when that line starts a numbered or bulleted list, the list's consecutive items. The rest (a new
    "Favourite ...:" line, a story) is the model carrying on, not its answer; a first line in the primer's
    own format ("Favourite books: ...") is no answer at all."""
    lines = continuation.strip().splitlines()
    if not lines or _PRIMER_LINE.match(lines[0]):
        return ""
    if not _LIST_ITEM.match(lines[0]):
        return lines[0].strip()
    items = []
    for line in lines:
        if not _LIST_ITEM.match(line):
            break
        items.append(line.strip())
    return "\n".join(items)


def completion_prefix(stem: str) -> str:
    """The stem without its trailing ellipsis: the text a model continues ("... I ..." -> "... I")."""
    return re.sub(r"\s*(?:\.\.\.|…)\s*$", "", stem)


def _subdimensions(source: str, df: pd.DataFrame) -> None:
    out = []
    for name, line in zip(df["subdimension"], df[LINE], strict=True):
        canonical = re.sub(r"[\s-]+", "_", name.strip().lower())
        if canonical not in SUBDIMENSIONS:
            raise fail(
                source,
                line,
                "subdimension",
                f"{name!r} is not a ValueLex subdimension",
                f"name one of {', '.join(SUBDIMENSIONS)}",
            )
        out.append(canonical)
    df["subdimension"] = pd.Series(out, index=df.index, dtype=object)


def _every_subdimension(source: str, df: pd.DataFrame, what: str) -> None:
    present = set(df["subdimension"])
    for sub in SUBDIMENSIONS:
        if sub not in present:
            raise StimulusError(
                f"{source}: column 'subdimension': subdimension {sub!r} has no {what}; "
                f"add one or more rows for {sub}"
            )


def load_elicitation(path: str | Path | None = None) -> pd.DataFrame:
    """The elicitation prompts (package file if ``path`` is None): ``prompt_id, framing, prompt, completion``.

    Every prompt and every completion opening is unique.
    """
    source, df = read_frame(path, "lexicon_elicitation.csv", ELICITATION_COLUMNS, id_column="prompt_id")
    check_unique(source, df, "prompt", "ask every prompt once")
    check_unique(source, df, "completion", "write a distinct completion opening for every prompt")
    return finish(df)


def load_stems(path: str | Path | None = None) -> pd.DataFrame:
    """The projective sentence stems (package file if ``path`` is None): ``stem_id, subdimension, stem``."""
    source, df = read_frame(path, "lexicon_stems.csv", STEM_COLUMNS, id_column="stem_id")
    _subdimensions(source, df)
    check_unique(source, df, "stem", "write every stem once")
    _every_subdimension(source, df, "stem")
    return finish(df)


def load_anchors(path: str | Path | None = None) -> pd.DataFrame:
    """The scorer's anchor descriptions (package file if ``path`` is None): ``subdimension, description``."""
    source, df = read_frame(path, "lexicon_anchors.csv", ANCHOR_COLUMNS)
    _subdimensions(source, df)
    check_unique(source, df, "description", "write a distinct description for every anchor")
    _every_subdimension(source, df, "anchor description")
    return finish(df)


def load_validation(path: str | Path | None = None) -> pd.DataFrame:
    """Labelled completions (package file if ``path`` is None; CSV, or JSON if it ends in ``.json``).

    Columns ``stem_id, subdimension, completion, label (int 0/1)``, then any extra columns.
    """
    return _load_labelled(path, VALIDATION_COLUMNS, "stem_id")


def load_labels(path: str | Path) -> pd.DataFrame:
    """External labels for checking a scorer: CSV, or JSON if the name ends in ``.json``, with columns
    (keys) ``stem, completion, subdimension, label`` (1 = the completion clearly expresses the
    subdimension, 0 = weakly or not at all), then any extra columns. Stems are written out in full, so
    labels from another study need no stem ids."""
    return _load_labelled(path, LABEL_COLUMNS, "stem")


def _load_labelled(path: str | Path | None, columns: tuple[str, ...], key: str) -> pd.DataFrame:
    if path is not None and Path(path).suffix.lower() == ".json":
        source, df = _read_json(Path(path), columns)
    else:
        source, df = read_frame(path, "lexicon_validation.csv", columns)
    _subdimensions(source, df)
    labels = []
    for cell, line in zip(df["label"], df[LINE], strict=True):
        if cell not in ("0", "1"):
            raise fail(
                source,
                line,
                "label",
                f"{cell!r} is not 0 or 1",
                "write 1 if the completion clearly expresses the subdimension, 0 otherwise",
            )
        labels.append(int(cell))
    df["label"] = pd.Series(labels, index=df.index, dtype=int)
    seen: dict[tuple[str, str], int] = {}
    for stem, completion, line in zip(df[key], df["completion"], df[LINE], strict=True):
        if (stem, completion) in seen:
            raise fail(
                source,
                line,
                "completion",
                f"the completion of {stem!r} repeats row {seen[stem, completion]}",
                "label every completion of a stem once",
            )
        seen[stem, completion] = line
    return finish(df)


def _read_json(path: Path, columns: tuple[str, ...]) -> tuple[str, pd.DataFrame]:
    """A JSON list of objects as :func:`~valuescope.data.csvfile.read_frame` would give a CSV file."""
    source = str(path)
    keys = ", ".join(columns)
    try:
        data: Any = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise StimulusError(
            f"{source}: line {e.lineno}: not valid JSON ({e.msg}); write a list of objects with keys {keys}"
        ) from None
    if not isinstance(data, list):
        raise StimulusError(
            f"{source}: the file holds a JSON {type(data).__name__}, not a list; "
            f"write a list of objects with keys {keys}"
        )
    rows: list[dict[str, Any]] = []
    extra: list[str] = []
    for number, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise StimulusError(
                f"{source}: row {number}: a JSON {type(obj).__name__}, not an object; "
                f"write every item as an object with keys {keys}"
            )
        row: dict[str, Any] = {}
        for column in columns:
            if column not in obj:
                raise fail(source, number, column, "missing", f"give every object the keys {keys}")
            cell = obj[column]
            if isinstance(cell, bool) or not isinstance(cell, str | int):
                raise fail(
                    source,
                    number,
                    column,
                    f"{cell!r} is not a string or a whole number",
                    f"fill in the {column}",
                )
            text = str(cell).strip()
            if not text:
                raise fail(source, number, column, "empty", f"fill in the {column}")
            row[column] = text
        for key, cell in obj.items():
            if key not in columns:
                row[key] = cell
                if key not in extra:
                    extra.append(key)
        rows.append(row)
    df = pd.DataFrame(rows, columns=[*columns, *extra], dtype=object)
    df[LINE] = list(range(1, len(rows) + 1))
    return source, df
