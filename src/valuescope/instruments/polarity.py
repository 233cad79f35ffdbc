"""Does a text affirm a value or negate it: one logistic head on the (text, value) pair's embeddings.

The features of a pair are ``[t, t * v, |t - v|]`` for the text's and the value's unit embeddings ``t``
and ``v``, so one head serves any value named in words (a questionnaire's construct, a ValueLex
subdimension's description), including values it never saw. The shipped head is trained on ValueBench's
keyed questionnaire items (+1: agreeing expresses the value, -1: reverse-keyed); its validity is
measured with folds grouped by inventory, so no inventory is both trained and tested on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from valuescope.data.valuebench import VALUEBENCH_FILE, load_value_orientation
from valuescope.instruments.heads import LinearHead, fit_logistic, shipped_head
from valuescope.instruments.projective import DESCRIPTIONS
from valuescope.instruments.validity import MACRO, POOLED, Gate, auroc_validity, need_path, validity_table

DEFAULT_HEAD = "valuebench-polarity-minilm"
DIMENSION = "affirms"


def pair_features(texts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``[t, t * v, |t - v|]`` row by row, for (n, d) text and value embeddings."""
    if texts.shape != values.shape:
        raise ValueError(f"text embeddings {texts.shape} and value embeddings {values.shape} differ")
    return np.hstack([texts, texts * values, np.abs(texts - values)])


def embed_pairs(texts: Sequence[str], values: Sequence[str], encoder_key: str) -> np.ndarray:
    """The pair features of each (text, value name or description)."""
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    if len(texts) != len(values):
        raise ValueError(f"{len(texts)} texts but {len(values)} values; give one value per text")
    names = sorted(set(values))
    named = sentence_embeddings(names, cache=True, encoder_key=encoder_key, by_length=True)
    by_name = dict(zip(names, named, strict=True))
    t = sentence_embeddings(list(texts), cache=True, encoder_key=encoder_key, by_length=True)
    return pair_features(t, np.stack([by_name[v] for v in values]))


def fit_polarity(
    texts: Sequence[str], values: Sequence[str], affirms: Sequence[bool], *, encoder_key: str,
    C: float = 0.5, record: dict[str, Any] | None = None,
) -> LinearHead:  # fmt: skip
    """A polarity head trained on keyed (text, value) pairs."""
    X = embed_pairs(texts, values, encoder_key)
    Y = np.asarray(affirms, dtype=bool)[:, None]
    return fit_logistic(X, Y, [DIMENSION], encoder=encoder_key, C=C, record=record)


@dataclass
class PolarityScorer:
    """Logit that each text affirms (rather than negates) its value."""

    head: LinearHead = field(default_factory=lambda: shipped_head(DEFAULT_HEAD))
    name: str = "projective-scorer (all-MiniLM-L6-v2 pair features + a logistic head trained on ValueBench)"

    def scores(self, texts: Sequence[str], values: Sequence[str]) -> np.ndarray:
        """(n,) logits: above 0, the text reads as affirming its value."""
        return self.head.scores(embed_pairs(texts, values, self.head.encoder))[:, 0]


@dataclass
class SubdimensionPolarity:
    """The projective scorer a lexicon study uses: the polarity logit of each completion (alone: the stem
    is shared by the completions being compared) against its ValueLex subdimension's description."""

    polarity: PolarityScorer = field(default_factory=PolarityScorer)
    descriptions: Mapping[str, str] = field(default_factory=lambda: dict(DESCRIPTIONS))
    name: str = "projective-scorer (ValueBench polarity head: the completion against its subdimension)"
    instrument: str = "projective-scorer"

    def validate(self, data: Path, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
        """Polarity on ValueBench's keyed items, folds grouped by inventory: the head's recipe, out of fold
        (:func:`polarity_on_valuebench`)."""
        encoder = self.polarity.head.encoder
        return polarity_on_valuebench(data, encoder_key=encoder, n_boot=n_boot, seed=seed)

    def table(
        self, stems: Sequence[str], completions: Sequence[str], subdimensions: Sequence[str]
    ) -> pd.DataFrame:
        """The scores as a DataFrame beside each row's subdimension."""
        scores = self.scores(stems, completions, subdimensions)
        return pd.DataFrame({"subdimension": list(subdimensions), "score": scores})

    def scores(
        self, stems: Sequence[str], completions: Sequence[str], subdimensions: Sequence[str]
    ) -> np.ndarray:
        unknown = sorted(set(subdimensions) - set(self.descriptions))
        if unknown:
            raise ValueError(
                f"no description of the subdimensions {unknown}; known: {sorted(self.descriptions)}"
            )
        if not len(stems) == len(completions) == len(subdimensions):
            raise ValueError(
                f"{len(stems)} stems, {len(completions)} completions, {len(subdimensions)} subdimensions; "
                "give one of each per row"
            )
        return self.polarity.scores(list(completions), [self.descriptions[s] for s in subdimensions])


POLARITY_GATE = Gate("auroc", 0.85, applies_to=POOLED)
POLARITY_FOLDS = 5


def polarity_on_valuebench(
    data: Path, *, encoder_key: str = "minilm", C: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Out-of-fold polarity AUROC on ValueBench, folds grouped by inventory (the shipped head's recipe)."""
    from sklearn.model_selection import GroupKFold

    from valuescope.instruments.heads import fit_logistic

    items = load_value_orientation(need_path(data / VALUEBENCH_FILE, "ValueBench's value_orientation.csv"))
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


def polarity_on_labels(
    scorer: PolarityScorer, path: Path, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The polarity scorer on a user's own labels (``data.labelled_texts``: text, value in words, 1 when
    the text affirms it, 0 when it negates it): AUROC pooled (gated) and per value; intervals over
    ``group``; the dataset is the file's name."""
    from valuescope.data.labelled_texts import load_labelled_texts

    rows = load_labelled_texts(path, schwartz=False)
    scores = scorer.scores(list(rows["text"]), list(rows["value"]))
    y, groups = rows["label"].to_numpy(dtype=bool), rows["group"].to_numpy()
    values = list(dict.fromkeys(rows["value"]))
    own = rows["value"].to_numpy()[:, None] == np.array(values)[None, :]
    per_value = auroc_validity(
        np.repeat(scores[:, None], len(values), 1), np.repeat(y[:, None], len(values), 1), values,
        groups=groups, counted=own, n_boot=n_boot, seed=seed,
    )  # fmt: skip
    pooled = auroc_validity(scores[:, None], y[:, None], [POOLED], groups=groups, n_boot=n_boot, seed=seed)
    table = pd.concat([pooled.iloc[:1], per_value], ignore_index=True)
    return validity_table("projective-scorer", Path(path).name, "auroc", table, POLARITY_GATE)
