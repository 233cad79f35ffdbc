"""The entanglement study's outputs that later steps of the same model read, each declared once: the
producing step files it under the handle's name and the reading step reads it through the handle."""

from __future__ import annotations

import pandas as pd

from valuescope.studies.protocol import Output

RATINGS: Output[pd.DataFrame] = Output("ratings", "ratings", "tables")
"""Every rated prompt (item x kind x paraphrase, some reversed) with the model's rating of it."""
REPAIR_READ_POINT: Output[int] = Output("residuals", "repair_read_point", "data")
"""The read point the repair fits and ablates the moral direction at."""
