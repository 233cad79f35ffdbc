"""The cross-fitted intrinsic-prompted cosine on planted residuals: a query-topic confound does not
inflate it, a shared vector reaches the reliability ceiling, distinct vectors stay near 0."""

from __future__ import annotations

import numpy as np

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.studies.mechanisms.vectors import ResponseReadout, cross_fit, fit_each

V = len(SCHWARTZ_VALUES)


def _readout(shared: bool, topic: float, signal: float = 3.0, seed: int = 0) -> ResponseReadout:
    """40 queries x (2 intrinsic + 10 prompted) responses in 32 dimensions. Each query makes some values
    likelier in both conditions (as a question about money invites power); residual = topic of the
    query + signal x (its values' vectors) + noise. Intrinsic and prompted vectors are the same planted
    ones when ``shared``, independent ones otherwise."""
    rng = np.random.default_rng(seed)
    d, n_q = 32, 40
    v_i = rng.normal(size=(V, d))
    v_p = v_i if shared else rng.normal(size=(V, d))
    topics = rng.normal(size=(n_q, d)) * topic
    propensity = np.where(rng.random((n_q, V)) < 0.3, 0.7, 0.1)
    xs, labels, queries, conditions = [], [], [], []
    for q in range(n_q):
        for condition, n, vec in (("intrinsic", 2, v_i), ("prompted", 10, v_p)):
            for _ in range(n):
                lab = rng.random(V) < propensity[q]
                xs.append(topics[q] + signal * lab @ vec / np.sqrt(V) + rng.normal(size=d))
                labels.append(lab)
                queries.append(f"q{q}")
                conditions.append(condition)
    x = np.array(xs)[:, None, :]
    return ResponseReadout(
        x=x, labels=np.array(labels), queries=np.array(queries), condition=np.array(conditions)
    )


def test_a_shared_vector_reaches_its_ceiling_and_distinct_vectors_stay_near_zero() -> None:
    rows = np.arange(40 * 12)
    same = cross_fit(_readout(shared=True, topic=0.0), 0, rows, seed=0, n_splits=4)
    other = cross_fit(_readout(shared=False, topic=0.0), 0, rows, seed=0, n_splits=4)
    assert np.nanmean(same.ceiling) > 0.3
    assert abs(np.nanmean(same.disattenuated) - 1.0) < 0.25
    assert abs(np.nanmean(other.cosine)) < 0.15
    assert np.nanmean(other.ceiling) > 0.3


def test_a_query_topic_shared_by_both_conditions_does_not_make_distinct_vectors_look_alike() -> None:
    r = _readout(shared=False, topic=3.0, seed=1)
    rows = np.arange(len(r.queries))
    # the naive same-queries cosine picks up the topics the positives happen to share ...
    vi = fit_each(r.x[r.condition == "intrinsic", 0], r.labels[r.condition == "intrinsic"])
    vp = fit_each(r.x[r.condition == "prompted", 0], r.labels[r.condition == "prompted"])
    naive = np.mean((vi * vp).sum(1) / np.linalg.norm(vi, axis=1) / np.linalg.norm(vp, axis=1))
    # ... the cross-fitted one, from disjoint query halves, cannot
    crossed = np.nanmean(cross_fit(r, 0, rows, seed=0, n_splits=4).cosine)
    assert naive > crossed + 0.1
    assert abs(crossed) < 0.15
