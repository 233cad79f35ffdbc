"""The indifference study's outputs that later steps of the same model read, each declared once: the
producing step files it under the handle's name and the reading step reads it through the handle."""

from __future__ import annotations

import pandas as pd
import torch

from valuescope.studies.protocol import Output

ITEMS: Output[pd.DataFrame] = Output("items", "items", "tables")
"""The moral and neutral items, checked, each with its half (A fits, B reports)."""
READ_POINT: Output[int] = Output("diagnostics", "read_point", "data")
"""The read point chosen on half A's diagnostics."""
SAE_READ_POINT: Output[int] = Output("sae", "sae_read_point", "data")
"""The read point of the SAE (a pretrained SAE's own hook may move it)."""
MORAL_DIRECTIONS: Output[torch.Tensor] = Output("sae", "moral_directions", "tensors")
"""Decoder rows of the SAE features selective for one foundation x pole on half A."""
FALLBACK_FEATURES: Output[bool] = Output("sae", "fallback_features", "data")
"""Whether those features fell below the selectivity threshold (a fallback choice)."""
REPAIR_BASIS: Output[torch.Tensor] = Output("repair", "repair_basis", "tensors")
"""The basis of the subspace the repair edits (absent when no repair was fitted)."""
REPAIR_MATRIX: Output[torch.Tensor] = Output("repair", "repair_matrix", "tensors")
"""The repair's linear map inside that subspace."""
REPAIR_CENTER: Output[torch.Tensor] = Output("repair", "repair_center", "tensors")
"""The point the repair's map is centred on."""
REPAIR_READ_POINT: Output[int] = Output("repair", "repair_read_point", "data")
"""The read point the repair edits."""
