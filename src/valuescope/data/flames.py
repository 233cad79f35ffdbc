"""Adversarial moral prompts: Flames (Huang et al. 2024, Chinese) and an authored English set in its style.

``flames/Flames_1k_Chinese.jsonl`` (under the data folder) holds one JSON object per line with the string
fields ``dimension`` (Fairness, Safety, Morality, Legality, Data protection), ``subcomponent`` (e.g.
``Bias and discrimination``) and ``prompt``. The prompts hide a harmful, unfair or unlawful premise inside
an ordinary request, so a careless answer endorses it. Flames has no ids; a prompt's id is its line
(``flames-0001`` is line 1), which does not change when prompts are filtered or sampled.

``indifference_prompts.csv`` (package file), columns ``prompt_id,dimension,prompt`` and optionally
``subcomponent``: 30 authored English prompts, six per Flames dimension, for the moral-indifference study
(Li, Teng & Wang 2026). ``prompt_id`` and ``prompt`` are unique; ``dimension`` is one of
:data:`FLAMES_DIMENSIONS`. Both loaders return ``prompt_id, dimension, subcomponent, prompt, language``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from valuescope.data.csvfile import LINE, StimulusError, check_unique, fail, finish, read_frame, read_text

FLAMES_FILE = "flames/Flames_1k_Chinese.jsonl"
"""The Flames prompts, relative to the data folder."""
FLAMES_DIMENSIONS = ("Fairness", "Safety", "Morality", "Legality", "Data protection")
PROMPT_COLUMNS = ("prompt_id", "dimension", "subcomponent", "prompt", "language")
MORAL_PROMPTS_FILE = "indifference_prompts.csv"
_CSV_COLUMNS = ("prompt_id", "dimension", "prompt")
_FIELDS = ("dimension", "subcomponent", "prompt")


def load_flames(
    path: str | Path, *, dimensions: Sequence[str] | None = None, n: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """The Flames prompts in file order, ``language`` ``zh``.

    ``dimensions`` keeps only those dimensions (spelled as in the file). ``n`` draws that many prompts
    (seeded, without replacement) stratified by dimension: each dimension gets its share of ``n`` in
    proportion to its size (largest remainders), and at least one when ``n`` reaches the number of
    dimensions; the sample keeps file order.
    """
    source = str(path)
    rows = []
    for line, text in enumerate(read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise StimulusError(
                f"{source}: line {line}: not valid JSON ({e.msg}); write one JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise StimulusError(
                f"{source}: line {line}: a {type(record).__name__}, not an object with "
                f"{', '.join(_FIELDS)}; write one JSON object per line"
            )
        for field in _FIELDS:
            value = record.get(field)
            if not isinstance(value, str) or not value.strip():
                problem = "missing" if field not in record else f"{value!r} is not a non-empty string"
                raise StimulusError(
                    f"{source}: line {line}, key {field!r}: {problem}; every line needs "
                    f"{', '.join(_FIELDS)} as strings"
                )
        rows.append(
            {
                "prompt_id": f"flames-{line:04d}",
                "dimension": record["dimension"].strip(),
                "subcomponent": record["subcomponent"].strip(),
                "prompt": record["prompt"].strip(),
                "language": "zh",
            }
        )
    if not rows:
        raise StimulusError(f"{source}: no prompts; expected Flames' {FLAMES_FILE}, one JSON object per line")
    df = pd.DataFrame(rows, columns=list(PROMPT_COLUMNS), dtype=object)
    if dimensions is not None:
        present = list(dict.fromkeys(df["dimension"]))
        wanted = [dimensions] if isinstance(dimensions, str) else list(dimensions)
        unknown = [d for d in wanted if d not in present]
        if unknown:
            raise ValueError(
                f"dimensions {', '.join(map(repr, unknown))} are not in {source}; "
                f"its dimensions are {', '.join(present)}"
            )
        df = df[df["dimension"].isin(wanted)]
    if n is not None:
        df = _stratified(df, n, seed)
    return df.reset_index(drop=True)


def _stratified(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(df):
        raise ValueError(f"n={n!r}; draw between 1 and the {len(df)} prompts available")
    sizes = df["dimension"].value_counts(sort=False)
    quota = allocate(sizes.to_numpy(), n)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for dimension, k in zip(sizes.index, quota, strict=True):
        rows = np.flatnonzero((df["dimension"] == dimension).to_numpy())
        keep.extend(rng.choice(rows, size=int(k), replace=False).tolist())
    return df.iloc[sorted(keep)]


def allocate(sizes: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """``n`` split over strata of ``sizes`` in proportion (largest remainders, ties to the earlier
    stratum), at least one per stratum when ``n`` reaches their number (taken from the largest quota)."""
    counts = np.asarray(sizes, dtype=np.int64)
    share = n * counts / counts.sum()
    quota = np.floor(share).astype(np.int64)
    for j in np.argsort(-(share - quota), kind="stable")[: n - int(quota.sum())]:
        quota[j] += 1
    if n >= len(counts):
        for j in np.flatnonzero(quota == 0):
            quota[int(np.argmax(quota))] -= 1
            quota[j] = 1
    return quota


def load_moral_prompts(path: str | Path | None = None) -> pd.DataFrame:
    """The authored English prompts (package file if ``path`` is None), ``language`` ``en``; the
    ``subcomponent`` is the file's column of that name, or empty when it has none."""
    source, df = read_frame(path, MORAL_PROMPTS_FILE, _CSV_COLUMNS, id_column="prompt_id")
    for value, line in zip(df["dimension"], df[LINE], strict=True):
        if value not in FLAMES_DIMENSIONS:
            raise fail(
                source,
                line,
                "dimension",
                f"{value!r} is not a Flames dimension",
                f"use one of {', '.join(FLAMES_DIMENSIONS)}",
            )
    check_unique(source, df, "prompt", "ask every prompt once")
    if "subcomponent" not in df.columns:
        df["subcomponent"] = pd.Series("", index=df.index, dtype=object)
    df["language"] = pd.Series("en", index=df.index, dtype=object)
    return finish(df[[*PROMPT_COLUMNS, LINE]])
