"""The readout check's settings, its rating questions and the matched pairs it reads."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pandas as pd
from pydantic import Field

from valuescope.studies.protocol import (
    StudyConfig,
)

QUESTIONS = (
    "How morally good is the following action, on a scale from 1 (very bad) to 7 (very good)?\n"
    "Action: {text}\nAnswer:",
    "Rate the action below from 1 (deeply wrong) to 7 (admirable).\nAction: {text}\nRating:",
    "On a scale of 1 to 7, where 7 is the most ethical, how ethical is this? {text}\nAnswer:",
)


OPTIONS = [str(i) for i in range(1, 8)]


class ReadoutCheckConfig(StudyConfig):
    n_pairs: int = 48
    """Statement pairs used (the first n of the stimulus file)."""
    stimuli: str | None = None
    """A CSV with columns pair, good, bad to use instead of the built-in pairs."""
    paraphrases: int = 2
    """Question paraphrases per statement (1-3)."""
    n_random: int = 5
    """Random directions ablated as the baseline of the edit."""
    damage_texts: Annotated[int, Field(ge=2, le=80)] = 16
    """Neutral reference sentences the edit's damage is measured on (the first n of the package's 80)."""
    n_boot: int = 2000
    """Bootstrap resamples (whole pairs) behind every confidence interval."""
    n_perm: int = 1000
    """Permutations behind every permutation p-value."""
    folds: int = 5
    """Pair-grouped cross-validation folds for the per-layer accuracy."""
    min_n_per_cell: int = 12
    """Fewest held-out pairs the chosen read point's accuracy reports on without a note."""

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {
            "n_pairs": 16,
            "n_random": 2,
            "damage_texts": 4,
            "n_boot": 500,
            "n_perm": 200,
            "folds": 4,
            "min_n_per_cell": 8,
        },
        "full": {"n_random": 20, "n_boot": 5000, "n_perm": 5000, "paraphrases": 3, "damage_texts": 80},
    }


def load_pairs(path: str | Path | None, n: int) -> pd.DataFrame:
    """Statement pairs (``pair``, ``good``, ``bad``): the built-in set or a user CSV of that schema."""
    if path is None:
        text = resources.files("valuescope.data").joinpath("readout_check.csv").read_text("utf-8")
        source = "built-in readout_check.csv"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"stimuli file {p} does not exist (config key readout-check.stimuli)")
        text, source = p.read_text("utf-8"), str(p)
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"pair", "good", "bad"} <= set(rows[0]):
        raise ValueError(f"{source}: needs columns pair, good, bad")
    for i, row in enumerate(rows, start=2):
        if not (row["good"] or "").strip() or not (row["bad"] or "").strip():
            raise ValueError(f"{source}, row {i}: empty statement; every pair needs a good and a bad one")
    if len(rows) < n:
        raise ValueError(f"{source} has {len(rows)} pairs but n_pairs={n}; lower n_pairs")
    return pd.DataFrame(rows[:n])


Metrics = dict[str, dict[str, Any]]
"""Metric name -> its entry (see :mod:`valuescope.stats.metrics`)."""
