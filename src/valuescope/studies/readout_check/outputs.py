"""The readout check's outputs that later steps of the same model read, each declared once: the producing
step files it under the handle's name and the reading step reads it through the handle."""

from __future__ import annotations

import pandas as pd
import torch

from valuescope.studies.protocol import Output

RATINGS: Output[pd.DataFrame] = Output("ratings", "ratings", "tables")
"""Every rated statement (pair x valence x paraphrase) with its expected rating (1-7)."""
DIRECTION: Output[torch.Tensor] = Output("direction", "direction", "tensors")
"""The unit good-vs-bad direction at its read point."""
LAYER: Output[int] = Output("direction", "layer", "data")
"""The read point the direction was chosen at."""
REPORT_PAIRS: Output[list[str]] = Output("direction", "report_pairs", "data")
"""The pairs held out from choosing the read point, on which the ablation reports."""
