"""What the atlas reads of the mechanisms study's units, and what its own steps hand on, each declared
once. The atlas imports nothing of another study: these handles name the producing study and step."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from valuescope.studies.protocol import Output

MECHANISMS = "mechanisms"
RESPONSES: Output[pd.DataFrame] = Output("responses", "responses", "tables", MECHANISMS)
"""The model's answers to everyday queries (``query_id``, ``query``, ``condition``, ``response``)."""
LABELS: Output[pd.DataFrame] = Output("labels", "labels", "tables", MECHANISMS)
"""Per answer, the labeller's ``score_<value>`` for every value."""
LABELLER_INSTRUMENT: Output[str | None] = Output("labels", "labeller_instrument", "data", MECHANISMS)
"""The validity-table name of the instrument the labels rest on."""
SELF_RATINGS: Output[pd.DataFrame] = Output("self_ratings", "self_ratings", "tables", MECHANISMS)
"""Every statement the model rated unsteered (``statement_id``, ``value``, ``text``, ``reverse``,
``questionnaire``, ``expected``)."""
PROJECTIONS: Output[pd.DataFrame] = Output("vectors", "response_projections", "tables", MECHANISMS)
"""Per answer, its residual projected on each value's vector fit on the other half of the queries."""
READ_POINT: Output[int] = Output("vectors", "read_point", "data", MECHANISMS)
POOLED_VECTORS: Output[torch.Tensor] = Output("vectors", "pooled_vectors", "tensors", MECHANISMS)
"""Value vectors (values, read points, d)."""
PROMPTED_VECTORS: Output[torch.Tensor] = Output("vectors", "prompted_vectors", "tensors", MECHANISMS)
STEERING_DELTAS: Output[pd.DataFrame] = Output("steering", "steering_deltas", "tables", MECHANISMS)
"""Every statement's rating change under every steering edit (``kind``, ``steered_value``,
``statement_id``, ``item_value``, ``delta``)."""
STEERING_DAMAGE: Output[pd.DataFrame] = Output("steering", "steering_damage", "tables", MECHANISMS)
ALPHAS: Output[dict[str, list[float]]] = Output("steering", "alphas", "data", MECHANISMS)
STEERED_VALUES: Output[list[str]] = Output("steering", "steered_values", "data", MECHANISMS)
COMPLIANCE: Output[pd.DataFrame] = Output("compliance", "compliance", "tables", MECHANISMS)
"""Per compliance edit and task: the rate and its change (``edit``, ``task``, ``change``, CI, ``kl``)."""
DIVERSITY: Output[pd.DataFrame] = Output("diversity", "diversity", "tables", MECHANISMS)
STEERED_ANSWERS: Output[list[dict[str, Any]]] = Output(
    "diversity", "steered_generations", "generations", MECHANISMS
)
"""Answers to held-out queries under each value's vectors (``kind``, ``value``, ``response``)."""

VALUE_GEOMETRY: Output[pd.DataFrame] = Output("agreement", "value_geometry", "tables")
"""The 10 x 10 cosines of the model's pooled value vectors at the read point (the compare reads it)."""
