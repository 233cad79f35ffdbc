"""Bulk extraction: read texts from a file, write their residuals to one safetensors file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from valuescope.model import Item, TokenReadout
from valuescope.readout.residuals import DEFAULT_BATCH_SIZE
from valuescope.readout.store import items_digest
from valuescope.tensors import save_tensors
from valuescope.version import __version__

if TYPE_CHECKING:
    from valuescope.model import LocalModel


def extract(
    lm: LocalModel,
    texts: Sequence[Item],
    layers: Sequence[int] | int,
    pool: str,
    out: str | Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    store: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Write the residuals of ``texts`` at read points ``layers`` to the safetensors file ``out``.

    The file holds ``residuals`` (n, len(layers), d_model) float32 (for ``pool="all"``:
    (n, len(layers), seq, d_model) plus a bool ``mask`` (n, seq)) and metadata: model name,
    weights hash, read points, pool, n, a hash of the texts, active interventions and the
    valuescope version. ``store`` caches (and resumes) the computation on disk.
    """
    from valuescope.models.hooks import normalize_read_points
    from valuescope.readout.batching import validate_items

    items = validate_items(texts)
    read_points = normalize_read_points(lm.layout, layers)
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"out={str(out)!r} must end in .safetensors")
    result = lm.residuals(items, read_points, pool, batch_size, progress, store)
    tensors = (
        {"residuals": result.values, "mask": result.mask}
        if isinstance(result, TokenReadout)
        else {"residuals": result}
    )
    metadata = {
        "model": lm.info.name,
        "weights_sha256": lm.weights_hash,
        "read_points": read_points,
        "pool": pool,
        "n": len(items),
        "d_model": lm.d_model,
        "texts_sha256": items_digest(items),
        "interventions": [iv.fingerprint() for iv in lm.active_interventions],
        "valuescope_version": __version__,
    }
    return save_tensors(out, tensors, json.loads(json.dumps(metadata, default=str)))
