"""What steering does to a model: the shift in questionnaire self-ratings toward the steered value and
its neighbours on the circle (``steering_shift``, ``value_deltas``, ``neighbour_response``), and the
diversity of the text it then writes (``distinct_n``, ``embedding_diversity``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from valuescope.studies.mechanisms.analysis import cosine_matrix, count_at_least, finite_array
from valuescope.studies.mechanisms.circumplex_geometry import circumplex_theory, offdiagonal

__all__ = [
    "distinct_n",
    "embedding_diversity",
    "neighbour_response",
    "steering_shift",
    "steering_shifts",
    "value_deltas",
]


_WORD = re.compile(r"\w+(?:'\w+)?")


def _deltas(delta: np.ndarray, item_values: np.ndarray | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    d = finite_array(delta, "delta", 1)
    vals = np.asarray(item_values).astype(str)
    if vals.shape != d.shape:
        raise ValueError(
            f"item_values must name one value per item of delta ({len(d)}), got shape {vals.shape}"
        )
    return d, vals


def value_deltas(
    delta: np.ndarray, item_values: np.ndarray | Sequence[str], order: Sequence[str]
) -> np.ndarray:
    """(len(order),) mean ``delta`` over each value's items; items of values not in ``order`` are ignored."""
    d, vals = _deltas(delta, item_values)
    if isinstance(order, str):
        raise ValueError("order must be a sequence of value names, not one string; wrap it in a list")
    missing = [v for v in order if not (vals == v).any()]
    if missing:
        raise ValueError(f"no items measure {missing}; item_values has {sorted(set(vals.tolist()))}")
    return np.array([d[vals == v].mean() for v in order])


def steering_shift(delta: np.ndarray, item_values: np.ndarray | Sequence[str], target: str) -> float:
    """Mean ``delta`` over the target's items minus the mean over the other values of their mean delta.

    ``delta`` (n_items,) is steered minus baseline self-rating per item, reverse keys already corrected;
    ``item_values`` names the value each item measures. Every other value weighs the same.
    """
    d, vals = _deltas(delta, item_values)
    if not (vals == target).any():
        raise ValueError(
            f"no items measure the target {target!r}; item_values has {sorted(set(vals.tolist()))}"
        )
    others = sorted(set(vals.tolist()) - {target})
    if not others:
        raise ValueError(f"every item measures {target!r}; the shift needs items of other values to compare")
    return float(d[vals == target].mean() - value_deltas(d, vals, others).mean())


def steering_shifts(
    delta: np.ndarray, item_values: np.ndarray | Sequence[str], targets: Sequence[str]
) -> np.ndarray:
    """Row r of ``delta`` (targets, items) steered toward ``targets[r]``: its :func:`steering_shift`, NaN
    for a row with a non-finite change (an edit that was not read)."""
    return np.array(
        [
            steering_shift(delta[r], item_values, t) if np.isfinite(delta[r]).all() else np.nan
            for r, t in enumerate(targets)
        ]
    )


def neighbour_response(deltas_by_value: np.ndarray, target_index: int) -> float:
    """Pearson r, over the non-target values, between their mean delta and cos(2πk/V), k the circular
    distance to the target: positive when steering a value raises its neighbours and lowers its opposites.

    ``deltas_by_value`` is (V,) in circumplex order (``value_deltas``). NaN if the deltas have no spread.
    """
    d = finite_array(deltas_by_value, "deltas_by_value", 1)
    v = len(d)
    if v < 4:
        raise ValueError(f"neighbour_response needs at least 4 values, got {v}")
    if int(target_index) != target_index or not 0 <= target_index < v:
        raise ValueError(f"target_index must be an integer in 0..{v - 1}, got {target_index}")
    closeness = circumplex_theory(v)[int(target_index)]
    rest = np.arange(v) != target_index
    x, y = d[rest] - d[rest].mean(), closeness[rest] - closeness[rest].mean()
    scale = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / scale if scale > 0 else float("nan")


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Unique word n-grams / all word n-grams over ``texts`` (lowercased, words ``\\w+(?:'\\w+)?``).

    n-grams do not cross texts. ValueError if no text has n words.
    """
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string; wrap it in a list")
    n = count_at_least(n, "n")
    grams: list[tuple[str, ...]] = []
    for text in texts:
        words = _WORD.findall(text.lower())
        grams.extend(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    if not grams:
        raise ValueError(f"the {len(texts)} texts hold no word {n}-grams; distinct-{n} is undefined")
    return len(set(grams)) / len(grams)


def embedding_diversity(embeddings: np.ndarray) -> float:
    """Mean cosine distance 1 - cos over distinct pairs of rows of ``embeddings`` (m >= 2, e)."""
    e = finite_array(embeddings, "embeddings", 2)
    if len(e) < 2:
        raise ValueError(f"embedding_diversity needs at least 2 embeddings, got {len(e)}")
    return float(1.0 - offdiagonal(cosine_matrix(e)).mean())
