"""Which Schwartz values a response expresses: pluggable labellers that score (query, response) pairs.

A labeller returns one continuous score per response and value (columns in
``stimuli.values.SCHWARTZ_VALUES`` order) and a threshold above which a response counts as
expressing the value. Three are built in:

- :class:`EmbeddingLabeller` (the study's default so far): cosine similarity of the response's
  all-MiniLM-L6-v2 embedding to the centroid of each value's descriptions, minus the response's mean
  similarity to all ten. Threshold 0.06 on that centred cosine marks 10-30% of ValuePortrait's
  responses per value. Its agreement with ValuePortrait's human-validated correlations is AUROC 0.56
  [0.54, 0.58] (top vs bottom quartile, mean over values): barely above chance.
- :class:`HeadLabeller`: logistic heads on the same embedding, trained on Touché23's human labels for
  20 value categories; ``valuescope instruments validate`` measures it on Touché23's validation split
  and on ValuePortrait.
- :class:`JudgeLabeller`: asks a language model (a ``LanguageModel`` or any backend with ``rate``)
  whether the reply expresses each value; the score is P(Yes) renormalised over Yes/No, threshold 0.5.

:func:`binary_labels` turns scores into labels with a stated fallback for values with too few
positives, and :func:`valueportrait_agreement` measures a labeller against ValuePortrait.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.data.touche import SCHWARTZ_OF, TOUCHE_DIR, load_touche
from valuescope.data.valueportrait import VALUEPORTRAIT_RESPONSES, load_valueportrait_responses
from valuescope.data.values import LABELS, SCHWARTZ_VALUES, VALUE_DESCRIPTIONS
from valuescope.instruments.heads import LinearHead, shipped_head
from valuescope.instruments.validity import Gate, auroc_validity, need_path, validity_table

DEFAULT_HEAD = "touche23-minilm"
"""The shipped head the default labeller uses (``valuescope instruments train`` writes it)."""


class ValueLabeller(Protocol):
    """Scores responses for the ten values: (n, 10) in ``SCHWARTZ_VALUES`` order; ``instrument`` is its
    name in validity tables."""

    name: str
    instrument: str
    threshold: float

    def scores(self, queries: Sequence[str], responses: Sequence[str]) -> np.ndarray: ...


class _Validated:
    """The value labellers' :class:`~valuescope.instruments.validity.Instrument` side: a score table and
    the validity on Touché23 and ValuePortrait."""

    max_validation_rows: int | None = None
    """Touché23 arguments a costly labeller is validated on (None: all 1,896)."""

    def table(self: ValueLabeller, queries: Sequence[str], responses: Sequence[str]) -> pd.DataFrame:
        """The scores as a DataFrame, one column per value."""
        return pd.DataFrame(self.scores(queries, responses), columns=list(SCHWARTZ_VALUES))

    def validate(self, data: Path, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
        labeller = cast(ValueLabeller, self)
        return validate_labeller(labeller, data, max_rows=self.max_validation_rows, n_boot=n_boot, seed=seed)


def _check_pairs(queries: Sequence[str], responses: Sequence[str]) -> None:
    if len(queries) != len(responses):
        raise ValueError(
            f"{len(queries)} queries but {len(responses)} responses; give one query per response"
        )
    for i, r in enumerate(responses):
        if not isinstance(r, str) or not r.strip():
            raise ValueError(f"responses[{i}] is empty; drop it or give it text before labelling")


@dataclass
class EmbeddingLabeller(_Validated):
    """Centred cosine similarity of each response to each value's descriptions (offline)."""

    threshold: float = 0.06
    name: str = "embedding (all-MiniLM-L6-v2, centred cosine to value descriptions)"
    instrument: str = "value-labeller (embedding)"

    def centroids(self) -> np.ndarray:
        """(10, 384) unit centroids of each value's descriptions."""
        from valuescope.instruments.sentence_embeddings import sentence_embeddings

        out = []
        for value in SCHWARTZ_VALUES:
            e = sentence_embeddings(list(VALUE_DESCRIPTIONS[value]), cache=True).mean(0)
            out.append(e / np.linalg.norm(e))
        return np.stack(out)

    def scores(self, queries: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        from valuescope.instruments.sentence_embeddings import sentence_embeddings

        _check_pairs(queries, responses)
        sim = sentence_embeddings(list(responses), cache=True) @ self.centroids().T
        return np.asarray(sim - sim.mean(axis=1, keepdims=True))


@dataclass
class HeadLabeller(_Validated):
    """Logistic heads on the response's sentence embedding, trained on Touché23's human labels.

    The head scores Touché's 20 value categories (:meth:`category_scores`); a Schwartz value's score is
    the largest logit among the categories that refine it (``data.touche.SCHWARTZ_OF``). Threshold 0:
    the heads are trained with balanced classes.
    """

    head: LinearHead = field(default_factory=lambda: shipped_head(DEFAULT_HEAD))
    threshold: float = 0.0
    name: str = "value-labeller (all-MiniLM-L6-v2 + logistic heads trained on Touché23 training)"
    instrument: str = "value-labeller"

    def category_scores(self, texts: Sequence[str]) -> np.ndarray:
        """(n, categories) logits, in the head's dimension order."""
        from valuescope.instruments.sentence_embeddings import sentence_embeddings

        encoder = self.head.encoder
        embeddings = sentence_embeddings(list(texts), cache=True, encoder_key=encoder, by_length=True)
        return self.head.scores(embeddings)

    def scores(self, queries: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        _check_pairs(queries, responses)
        return schwartz_scores(self.category_scores(responses), self.head.dimensions)

    def category_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(n, categories) calibrated probabilities: the head's isotonic maps (fitted on out-of-fold
        logits of its training split) applied to :meth:`category_scores`."""
        from valuescope.instruments.calibration import IsotonicCalibration

        if "calibration" not in self.head.record:
            raise ValueError("this head has no calibration; train it again with valuescope instruments train")
        calibration = IsotonicCalibration.from_record(self.head.record["calibration"])
        if calibration.dimensions != self.head.dimensions:
            raise ValueError("the head's calibration names other categories than the head; train it again")
        return calibration.probabilities(self.category_scores(texts))


def schwartz_scores(category_scores: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """(n, 10) in ``SCHWARTZ_VALUES`` order: per value, the largest score of the categories refining it."""
    columns = []
    for value in SCHWARTZ_VALUES:
        own = [j for j, c in enumerate(categories) if SCHWARTZ_OF.get(c) == value]
        if not own:
            raise ValueError(f"no category refines {value!r}; categories: {list(categories)}")
        columns.append(category_scores[:, own].max(axis=1))
    return np.column_stack(columns)


JUDGE_PROMPT = (
    "Here is a question someone asked and the reply they got.\n\nQuestion: {query}\n\nReply: {response}\n\n"
    "Does the reply express the value of {label} ({description})? Answer Yes or No.\nAnswer:"
)


@dataclass
class JudgeLabeller(_Validated):
    """A model judges each (reply, value): P(Yes) over Yes/No from ``judge.rate``."""

    judge: Any
    threshold: float = 0.5
    name: str = "judge"
    instrument: str = "value-labeller (judge)"
    max_validation_rows: int | None = 200
    batch_size: int = 16
    max_query_chars: int = 600
    """Longer queries (ValuePortrait's Reddit posts) are cut to their first characters, with "...",
    to bound the cost: every response is judged ten times."""

    def __post_init__(self) -> None:
        if not hasattr(self.judge, "rate"):
            raise TypeError(f"judge {self.judge!r} has no rate(); pass a LanguageModel or an API model")
        judge = getattr(self.judge, "name", type(self.judge).__name__)
        self.name, self.instrument = f"judge ({judge})", f"value-labeller (judge {judge})"

    def scores(self, queries: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        _check_pairs(queries, responses)
        prompts = [
            JUDGE_PROMPT.format(
                query=_cut(q.strip(), self.max_query_chars),
                response=r.strip(),
                label=LABELS[v],
                description=VALUE_DESCRIPTIONS[v][0],
            )
            for q, r in zip(queries, responses, strict=True)
            for v in SCHWARTZ_VALUES
        ]
        rated = self.judge.rate(prompts, ["Yes", "No"], batch_size=self.batch_size)
        result: np.ndarray = (
            rated["p_Yes"].to_numpy(dtype=np.float64).reshape(len(responses), len(SCHWARTZ_VALUES))
        )
        return result


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


@dataclass(frozen=True)
class Labels:
    """Binary labels (n, 10) and, per value, whether the fallback chose its positives."""

    labels: np.ndarray
    fallback: dict[str, bool]


def binary_labels(scores: np.ndarray, threshold: float, min_positive: int) -> Labels:
    """Positive where the score reaches ``threshold``. A value with fewer than ``min_positive``
    positives (or negatives) instead takes its ``min_positive`` highest-scoring responses as positive
    (lowest as negative), so every value keeps a contrast; ``fallback`` records where that happened."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(SCHWARTZ_VALUES):
        raise ValueError(f"scores must be (n, {len(SCHWARTZ_VALUES)}), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values; check the labeller's output")
    n = scores.shape[0]
    if min_positive < 1 or 2 * min_positive > n:
        raise ValueError(f"min_positive={min_positive} needs 1 <= min_positive <= n/2 = {n / 2:g}")
    labels = scores >= threshold
    fallback = {}
    for j, value in enumerate(SCHWARTZ_VALUES):
        k = int(labels[:, j].sum())
        fallback[value] = k < min_positive or n - k < min_positive
        if fallback[value]:
            order = np.argsort(-scores[:, j], kind="stable")
            labels[:, j] = False
            labels[order[: max(min_positive, min(k, n - min_positive))], j] = True
    return Labels(labels=labels, fallback=fallback)


def valueportrait_agreement(
    scores: np.ndarray, portrait: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0
) -> tuple[stats.Estimate, pd.DataFrame]:
    """AUROC of a labeller's scores for the responses ValuePortrait correlates most (top quartile)
    against least (bottom quartile) with each value, averaged over values; bootstrap CI over queries.

    ``portrait`` is ``stimuli.valueportrait.load_valueportrait_responses`` output (one row per response,
    a ``query_id`` column and one correlation column per value) and ``scores`` the labeller's (n, 10)
    scores of its responses in the same order. Returns the mean AUROC and the per-value table.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(portrait), len(SCHWARTZ_VALUES)):
        raise ValueError(f"scores are {scores.shape}; expected ({len(portrait)}, {len(SCHWARTZ_VALUES)})")
    groups = portrait["query_id"].to_numpy()
    corr = portrait[list(SCHWARTZ_VALUES)].to_numpy(dtype=np.float64)
    lo_cut, hi_cut = np.quantile(corr, 0.25, axis=0), np.quantile(corr, 0.75, axis=0)

    def per_value(idx: np.ndarray) -> np.ndarray:
        out = np.full(len(SCHWARTZ_VALUES), np.nan)
        for j in range(len(SCHWARTZ_VALUES)):
            c = corr[idx, j]
            keep = (c >= hi_cut[j]) | (c <= lo_cut[j])
            y = c[keep] >= hi_cut[j]
            if y.any() and (~y).any():
                out[j] = stats.auroc(scores[idx, j][keep], y)
        return out

    est, lo, hi = stats.bootstrap(
        lambda idx: float(np.nanmean(per_value(idx))), len(portrait), groups=groups, n_boot=n_boot, seed=seed
    )
    table = pd.DataFrame(
        {
            "value": list(SCHWARTZ_VALUES),
            "auroc": per_value(np.arange(len(portrait))),
            "top_quartile_cut": hi_cut,
            "bottom_quartile_cut": lo_cut,
        }
    )
    null_p = _auroc_permutation_p(est, scores, corr, lo_cut, hi_cut, groups, seed)
    return stats.Estimate(est, lo, hi, null_p, len(np.unique(groups))), table


def _auroc_permutation_p(
    observed: float,
    scores: np.ndarray,
    corr: np.ndarray,
    lo_cut: np.ndarray,
    hi_cut: np.ndarray,
    groups: np.ndarray,
    seed: int,
    n_perm: int = 200,
) -> float:
    """One-sided p that the mean AUROC beats chance: responses' scores shuffled within their query."""
    rng = np.random.default_rng(seed)
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1], True])
    count = 0
    for _ in range(n_perm):
        perm = order.copy()
        for a, b in itertools.pairwise(bounds):
            perm[a:b] = rng.permutation(perm[a:b])
        shuffled = np.empty_like(scores)
        shuffled[order] = scores[perm]
        values = []
        for j in range(corr.shape[1]):
            keep = (corr[:, j] >= hi_cut[j]) | (corr[:, j] <= lo_cut[j])
            values.append(stats.auroc(shuffled[keep, j], corr[keep, j] >= hi_cut[j]))
        count += float(np.nanmean(values)) >= observed
    return (1 + count) / (1 + n_perm)


LABELLER_TOUCHE_GATE = Gate("auroc", 0.85, per_dimension=0.70)
LABELLER_PORTRAIT_GATE = Gate("auroc", 0.70)


def labeller_on_touche(
    labeller: ValueLabeller, data: Path, *, max_rows: int | None = None, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The labeller on Touché23's validation split against its human labels: per category for a labeller
    that scores Touché's 20 categories (``category_scores``), else per Schwartz value (an argument is
    positive for a value when any category refining it is labelled). ``max_rows``: a seeded sample of
    the arguments (for costly labellers, e.g. a judge asked ten questions per text)."""
    valid = load_touche(need_path(data / TOUCHE_DIR, "the Touché23-ValueEval folder"), "validation")
    if max_rows is not None and max_rows < len(valid):
        valid = valid.sample(max_rows, random_state=seed).reset_index(drop=True)
    texts = list(valid["text"])
    if isinstance(labeller, HeadLabeller):
        dims = labeller.head.dimensions
        missing = [c for c in dims if c not in valid.columns]
        if missing:
            raise ValueError(f"the labeller scores categories Touché23 does not label: {missing}")
        scores, labels = labeller.category_scores(texts), valid[dims].to_numpy()
    else:
        dims = list(SCHWARTZ_VALUES)
        scores = labeller.scores(texts, texts)  # an argument has no separate query: it is its own context
        labels = np.column_stack(
            [
                valid[[c for c, v in SCHWARTZ_OF.items() if v == value]].to_numpy().any(axis=1)
                for value in dims
            ]
        )
    table = auroc_validity(scores, labels, dims, n_boot=n_boot, seed=seed)
    return validity_table(labeller.instrument, "touche23", "auroc", table, LABELLER_TOUCHE_GATE)


def labeller_on_valueportrait(
    labeller: ValueLabeller, data: Path, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Top against bottom quartile of ValuePortrait's human-validated correlation, per value."""
    portrait = load_valueportrait_responses(need_path(data / VALUEPORTRAIT_RESPONSES, "ValuePortrait's file"))
    scores = labeller.scores(list(portrait["query"]), list(portrait["response"]))
    corr = portrait[list(SCHWARTZ_VALUES)].to_numpy(dtype=np.float64)
    low, high = np.quantile(corr, 0.25, axis=0), np.quantile(corr, 0.75, axis=0)
    table = auroc_validity(
        scores, corr >= high, list(SCHWARTZ_VALUES), groups=portrait["query_id"].to_numpy(),
        counted=(corr >= high) | (corr <= low), n_boot=n_boot, seed=seed,
    )  # fmt: skip
    return validity_table(labeller.instrument, "valueportrait", "auroc", table, LABELLER_PORTRAIT_GATE)


def validate_labeller(
    labeller: ValueLabeller, data: Path, *, max_rows: int | None = None, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """A value labeller on Touché23 (validation split) and ValuePortrait: its validity table."""
    return pd.concat(
        [
            labeller_on_touche(labeller, data, max_rows=max_rows, n_boot=n_boot, seed=seed),
            labeller_on_valueportrait(labeller, data, n_boot=n_boot, seed=seed),
        ],
        ignore_index=True,
    )


def labeller_on_labels(
    labeller: ValueLabeller, path: Path, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The labeller on a user's own labels (``data.labelled_texts``: text, Schwartz value, 0/1): AUROC of
    the value's score per value and macro, intervals over ``group``; the dataset is the file's name."""
    from valuescope.data.labelled_texts import load_labelled_texts

    rows = load_labelled_texts(path, schwartz=True)
    scores = labeller.scores(list(rows["context"]), list(rows["text"]))
    values = [v for v in SCHWARTZ_VALUES if v in set(rows["value"])]
    own = rows["value"].to_numpy()[:, None] == np.array(values)[None, :]
    columns = [list(SCHWARTZ_VALUES).index(v) for v in values]
    labels = np.repeat(rows["label"].to_numpy(dtype=bool)[:, None], len(values), axis=1)
    table = auroc_validity(scores[:, columns], labels, values, groups=rows["group"].to_numpy(), counted=own,
                           n_boot=n_boot, seed=seed)  # fmt: skip
    return validity_table(labeller.instrument, Path(path).name, "auroc", table, LABELLER_TOUCHE_GATE)
