"""Each instrument measured against third-party human labels it was not trained on.

- ``value-labeller`` on ``touche23``: AUROC per category on the official validation split (the head is
  trained on the training split only); intervals over arguments.
- ``value-labeller`` on ``valueportrait``: per Schwartz value, AUROC separating the responses whose
  human-validated correlation with the value is in the top quartile from those in the bottom quartile;
  intervals over queries.
- ``judge`` on ``touche23``: pairs of validation arguments, one labelled with a category and one not; the
  judge is asked which appeals more to the category, in both orders. ``accuracy`` per category and macro
  (the mean of both orders favours the labelled one) and ``consistency`` (both orders agree); intervals
  over pairs.
- ``projective-scorer`` on ``valuebench-polarity``: does an item affirm its construct (+1) or is it
  reverse-keyed (-1); out-of-fold scores from folds grouped by inventory. The gate is on the pooled AUROC
  (intervals over inventories); per inventory (intervals over items) and their macro mean are reported.

The folder layout is the project's data folder: ``touche23/``, ``valueportrait/``, ``valuebench/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from valuescope.data.touche import SCHWARTZ_OF, TOUCHE_DIR, load_touche, touche_categories
from valuescope.data.valuebench import VALUEBENCH_FILE, load_value_orientation
from valuescope.data.valueportrait import VALUEPORTRAIT_RESPONSES, load_valueportrait_responses
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.instruments.heads import SHIPPED, LinearHead, shipped_head
from valuescope.instruments.pairwise_judge import VALUE_JUDGE_PROMPT, PairwiseJudge
from valuescope.instruments.polarity import DIMENSION, embed_pairs
from valuescope.instruments.validity import (
    MACRO,
    POOLED,
    VALIDITY_COLUMNS,
    Gate,
    auroc_validity,
    share_validity,
    validity_table,
)  # fmt: skip
from valuescope.instruments.value_labels import HeadLabeller

LABELLER_TOUCHE_GATE = Gate("auroc", 0.85, per_dimension=0.70)
LABELLER_PORTRAIT_GATE = Gate("auroc", 0.70)
POLARITY_GATE = Gate("auroc", 0.85, applies_to=POOLED)
JUDGE_ACCURACY_GATE = Gate("accuracy", 0.75)
JUDGE_CONSISTENCY_GATE = Gate("consistency", 0.8)
JUDGE_PAIRS = 20
"""Pairs per Touché23 category the judge is validated on (800 judgements for the 20 categories)."""
POLARITY_FOLDS = 5
SHIPPED_VALIDITY = "validity.csv"
"""The shipped heads' validity table, beside them (``valuescope instruments train`` writes it)."""


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {what} (set --data or VALUESCOPE_DATA)")
    return path


def labeller_on_touche(
    labeller: HeadLabeller, data: Path, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The labeller's category scores on Touché23's validation split against its human labels."""
    valid = load_touche(_need(data / TOUCHE_DIR, "the Touché23-ValueEval folder"), "validation")
    categories = labeller.head.dimensions
    missing = [c for c in categories if c not in valid.columns]
    if missing:
        raise ValueError(f"the labeller scores categories Touché23 does not label: {missing}")
    scores = labeller.category_scores(list(valid["text"]))
    table = auroc_validity(scores, valid[categories].to_numpy(), categories, n_boot=n_boot, seed=seed)
    return validity_table("value-labeller", "touche23", "auroc", table, LABELLER_TOUCHE_GATE)


def judge_on_touche(
    judge: Any, data: Path, *, n_pairs: int = JUDGE_PAIRS, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """``judge`` (a model with ``rate``) on Touché23 validation pairs: which argument appeals more to the
    category, the one its annotators labelled with it or one they did not; both orders."""
    folder = _need(data / TOUCHE_DIR, "the Touché23-ValueEval folder")
    valid = load_touche(folder, "validation")
    categories = touche_categories(folder)
    names = dict(
        zip(
            categories["category"], categories["description"].str.split(" (", regex=False).str[0], strict=True
        )
    )
    texts = [str(t) for t in valid["text"]]
    rng = np.random.default_rng(seed)
    values: list[str] = []
    labelled: list[str] = []
    other: list[str] = []
    category: list[str] = []
    for c in SCHWARTZ_OF:
        pos, neg = np.flatnonzero(valid[c] == 1), np.flatnonzero(valid[c] == 0)
        k = min(n_pairs, len(pos), len(neg))
        for i, j in zip(rng.choice(pos, k, replace=False), rng.choice(neg, k, replace=False), strict=True):
            values.append(str(names.get(c, c)))
            labelled.append(texts[i])
            other.append(texts[j])
            category.append(c)
    prefs = PairwiseJudge(judge, template=VALUE_JUDGE_PROMPT).prefer(values, labelled, other)
    of = np.array(category)
    right = prefs["p_first"].to_numpy() > 0.5
    accuracy = share_validity(right, of, list(SCHWARTZ_OF), n_boot=n_boot, seed=seed)
    consistent = prefs["consistent"].to_numpy(dtype=bool)
    consistency = share_validity(consistent, of, [], n_boot=n_boot, seed=seed)
    return pd.concat(
        [
            validity_table("judge", "touche23", "accuracy", accuracy, JUDGE_ACCURACY_GATE),
            validity_table("judge", "touche23", "consistency", consistency, JUDGE_CONSISTENCY_GATE),
        ],
        ignore_index=True,
    )


def labeller_on_valueportrait(
    labeller: HeadLabeller, data: Path, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Top against bottom quartile of ValuePortrait's human-validated correlation, per value."""
    portrait = load_valueportrait_responses(_need(data / VALUEPORTRAIT_RESPONSES, "ValuePortrait's file"))
    scores = labeller.scores(list(portrait["query"]), list(portrait["response"]))
    corr = portrait[list(SCHWARTZ_VALUES)].to_numpy(dtype=np.float64)
    low, high = np.quantile(corr, 0.25, axis=0), np.quantile(corr, 0.75, axis=0)
    table = auroc_validity(
        scores, corr >= high, list(SCHWARTZ_VALUES), groups=portrait["query_id"].to_numpy(),
        counted=(corr >= high) | (corr <= low), n_boot=n_boot, seed=seed,
    )  # fmt: skip
    return validity_table("value-labeller", "valueportrait", "auroc", table, LABELLER_PORTRAIT_GATE)


def polarity_on_valuebench(
    data: Path, *, encoder_key: str = "minilm", C: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Out-of-fold polarity AUROC on ValueBench, folds grouped by inventory (the shipped head's recipe)."""
    from sklearn.model_selection import GroupKFold

    from valuescope.instruments.heads import fit_logistic

    items = load_value_orientation(_need(data / VALUEBENCH_FILE, "ValueBench's value_orientation.csv"))
    X = embed_pairs(list(items["item"]), list(items["value"]), encoder_key)
    y = (items["agreement"] > 0).to_numpy()
    inventory = items["questionnaire"].to_numpy()
    out_of_fold = np.empty(len(y))
    for train, test in GroupKFold(POLARITY_FOLDS).split(X, y, inventory):
        head = fit_logistic(X[train], y[train, None], [DIMENSION], encoder=encoder_key, C=C)
        out_of_fold[test] = head.scores(X[test])[:, 0]
    names = sorted(set(inventory))
    one_hot = inventory[:, None] == np.array(names)[None, :]
    per_inventory = auroc_validity(  # intervals over items: an inventory is one sampling unit
        np.repeat(out_of_fold[:, None], len(names), 1), np.repeat(y[:, None], len(names), 1), names,
        counted=one_hot, n_boot=n_boot, seed=seed,
    )  # fmt: skip
    per_inventory = per_inventory[per_inventory["dimension"] != MACRO]
    pooled = auroc_validity(
        out_of_fold[:, None], y[:, None], [POOLED], groups=inventory, n_boot=n_boot, seed=seed
    )
    table = pd.concat(
        [pooled.iloc[:1], per_inventory, _macro_over_groups(out_of_fold, y, inventory, n_boot, seed)],
        ignore_index=True,
    )
    return validity_table("projective-scorer", "valuebench-polarity", "auroc", table, POLARITY_GATE)


def _macro_over_groups(
    scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_boot: int, seed: int
) -> pd.DataFrame:
    """Mean of the per-group AUROCs (groups with both labels), bootstrapped over groups."""
    from valuescope import stats

    def statistic(idx: np.ndarray) -> float:
        values = []
        for g in np.unique(groups[idx]):
            rows = idx[groups[idx] == g]
            if labels[rows].any() and (~labels[rows]).any():
                values.append(stats.auroc(scores[rows], labels[rows]))
        return float(np.mean(values)) if values else float("nan")

    est, lo, hi = stats.bootstrap(statistic, len(scores), groups=groups, n_boot=n_boot, seed=seed)
    n = len(np.unique(groups))
    return pd.DataFrame([{"dimension": MACRO, "estimate": est, "ci_low": lo, "ci_high": hi, "n": n}])


def validate_all(
    data: Path,
    *,
    heads: Path | None = None,
    encoder_key: str = "minilm",
    judge: Any | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every default instrument on every dataset it is validated on: one validity table. ``heads``: a
    folder of ``valuescope instruments train`` output (default: the shipped heads); ``judge``: the judge
    model (with ``rate``), or None to leave the judge out."""
    name = f"touche23-{encoder_key}"
    head = shipped_head(name) if heads is None else LinearHead.load(heads / f"{name}.safetensors")
    labeller = HeadLabeller(head=head)
    parts = [
        labeller_on_touche(labeller, data, n_boot=n_boot, seed=seed),
        labeller_on_valueportrait(labeller, data, n_boot=n_boot, seed=seed),
        polarity_on_valuebench(data, encoder_key=encoder_key, n_boot=n_boot, seed=seed),
    ]
    if judge is not None:
        parts.append(judge_on_touche(judge, data, n_boot=n_boot, seed=seed))
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
