"""The mechanisms study's outputs that later steps of the same model read, each declared once: the
producing step files it under the handle's name and the reading step reads it through the handle."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from valuescope.studies.protocol import Output

RESPONSES: Output[pd.DataFrame] = Output("responses", "responses", "tables")
"""The non-empty responses (query, condition, framed value, text) the vectors are read from."""
LABELS: Output[pd.DataFrame] = Output("labels", "labels", "tables")
"""Per response, its score and label for every value."""
LABELLED_BY: Output[str | None] = Output("labels", "labelled_by", "data")
"""The ``labeller`` config value the labels came from; None where they are the corpus's own."""
LABELLER_INSTRUMENT: Output[str | None] = Output("labels", "labeller_instrument", "data")
"""The validity-table name of the instrument the labels rest on (None: the corpus's own labels)."""
READ_POINT: Output[int] = Output("vectors", "read_point", "data")
"""The read point chosen for the value vectors."""
POOLED_VECTORS: Output[torch.Tensor] = Output("vectors", "pooled_vectors", "tensors")
"""Value vectors fit on every response, at every read point: (values, read points, d)."""
INTRINSIC_VECTORS: Output[torch.Tensor] = Output("vectors", "intrinsic_vectors", "tensors")
"""Value vectors fit on the unprompted responses, at every read point."""
PROMPTED_VECTORS: Output[torch.Tensor] = Output("vectors", "prompted_vectors", "tensors")
"""Value vectors fit on the responses prompted with a value, at every read point."""
SHARED_AXES: Output[torch.Tensor] = Output("vectors", "shared_axes", "tensors")
"""The axes the intrinsic and prompted vectors share, at the chosen read point."""
INTRINSIC_ONLY: Output[torch.Tensor] = Output("vectors", "intrinsic_only", "tensors")
"""The intrinsic vectors orthogonalised against the prompted ones, at the chosen read point."""
PROMPTED_ONLY: Output[torch.Tensor] = Output("vectors", "prompted_only", "tensors")
"""The prompted vectors orthogonalised against the intrinsic ones, at the chosen read point."""
VALUE_NEURONS: Output[torch.Tensor] = Output("neurons", "value_neurons", "tensors")
"""Each value's neuron kind codes per MLP block and neuron: (values, blocks, neurons)."""
ALPHAS: Output[dict[str, list[float]]] = Output("steering", "alphas", "data")
"""The steering strength of each vector kind per steered value, matched on damage."""
STEERED_VALUES: Output[list[str]] = Output("steering", "steered_values", "data")
"""The values steered."""
DOSE_LEVELS: Output[dict[str, Any]] = Output("dose_response", "dose_levels", "data")
"""The damage levels of the dose-response ladder (``levels``), the values read (``values``) and each
ladder's readings as [kl, alpha] (``<kind>_readings``); ``dose_response.alpha_at`` reads a strength."""
DOSE_RANDOM: Output[torch.Tensor] = Output("dose_response", "dose_random_directions", "tensors")
"""The random directions read along the dose ladder: (dose values, draws, d)."""
