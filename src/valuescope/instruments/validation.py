"""Every default instrument validated against third-party human labels it was not trained on, as one table.

Each instrument's ``validate(data)`` (:class:`~valuescope.instruments.validity.Instrument`) lives beside
it; :func:`validate_all` runs the defaults:

- ``value-labeller`` on ``touche23``: AUROC per category on the official validation split (the head is
  trained on the training split only); intervals over arguments (``value_labels.labeller_on_touche``).
- ``value-labeller`` on ``valueportrait``: per Schwartz value, AUROC separating the responses whose
  human-validated correlation with the value is in the top quartile from those in the bottom quartile;
  intervals over queries.
- ``judge`` on ``touche23``: pairs of validation arguments, one labelled with a category and one not; the
  judge is asked which appeals more to the category, in both orders. ``accuracy`` per category and macro
  (the mean of both orders favours the labelled one) and ``consistency`` (both orders agree); intervals
  over pairs (``pairwise_judge.judge_on_touche``).
- ``projective-scorer`` on ``valuebench-polarity``: does an item affirm its construct (+1) or is it
  reverse-keyed (-1); out-of-fold scores from folds grouped by inventory. The gate is on the pooled AUROC
  (intervals over inventories); per inventory (intervals over items) and their macro mean are reported
  (``polarity.polarity_on_valuebench``).

The folder layout is the project's data folder: ``touche23/``, ``valueportrait/``, ``valuebench/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from valuescope.instruments.heads import SHIPPED, LinearHead, shipped_head
from valuescope.instruments.pairwise_judge import PairwiseJudge
from valuescope.instruments.polarity import PolarityScorer, SubdimensionPolarity
from valuescope.instruments.validity import (
    VALIDITY_COLUMNS,
    Instrument,
)  # fmt: skip
from valuescope.instruments.value_labels import HeadLabeller

SHIPPED_VALIDITY = "validity.csv"
"""The shipped heads' validity table, beside them (``valuescope instruments train`` writes it)."""


def validate_all(
    data: Path,
    *,
    heads: Path | None = None,
    encoder_key: str = "minilm",
    judge: Any | None = None,
    judge_pairs: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every default instrument on every dataset it is validated on: one validity table. ``heads``: a
    folder of ``valuescope instruments train`` output (default: the shipped heads); ``judge``: the judge
    model (with ``rate``), or None to leave the judge out, asked about ``judge_pairs`` pairs per category."""
    labeller = f"touche23-{encoder_key}"
    head = shipped_head(labeller) if heads is None else LinearHead.load(heads / f"{labeller}.safetensors")
    name = f"valuebench-polarity-{encoder_key}"
    polarity = shipped_head(name) if heads is None else LinearHead.load(heads / f"{name}.safetensors")
    instruments: list[Instrument] = [HeadLabeller(head=head), SubdimensionPolarity(PolarityScorer(polarity))]
    if judge is not None:
        instruments.append(PairwiseJudge(judge, validation_pairs=judge_pairs))
    parts = [instrument.validate(data, n_boot=n_boot, seed=seed) for instrument in instruments]
    return pd.concat(parts, ignore_index=True)


def read_validity(path: Path) -> pd.DataFrame:
    """A validity table written as CSV (``passed`` empty where no gate applies)."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in VALIDITY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} is not a validity table: it lacks {', '.join(missing)}")
    return table.astype({"passed": "boolean", "gate": "string"}).fillna({"gate": ""})


def shipped_validity() -> pd.DataFrame:
    """The validity of the shipped heads, measured when they were trained (``heads/validity.csv``)."""
    ref = resources.files("valuescope.instruments").joinpath(SHIPPED, SHIPPED_VALIDITY)
    with resources.as_file(ref) as path:
        return read_validity(path)
