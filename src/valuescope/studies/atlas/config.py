"""The ``atlas`` study's config: how many queries and statements the agreement step reads, the second
steering strength of the side-effects, and the resampling sizes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from valuescope.studies.protocol import StudyConfig


class AtlasConfig(StudyConfig):
    """What the atlas adds to the units it reads (the mechanisms study's, at the same profile)."""

    mtmm_queries: Annotated[int, Field(ge=4)] | None = None
    """Queries of the agreement matrix (the mechanisms study's, first ones first); None: all of them."""
    mtmm_statements: Annotated[int, Field(ge=1, le=3)] = 1
    """Forward-keyed statements per value the model rates in the situation of each query (method a)."""
    sidefx_low: Annotated[float, Field(gt=0, lt=1)] = 0.25
    """The lower steering strength of the side-effects, as a share of the damage (KL) of the steering
    step's matched strength: alpha is scaled by its square root (KL grows about quadratically)."""
    damage_texts: Annotated[int, Field(ge=2)] = 6
    """Neutral reference texts the damage (KL, perplexity) of the lower-strength edits is read on."""
    n_boot: Annotated[int, Field(ge=50)] = 1000
    """Bootstrap resamples behind every interval."""
    n_perm: Annotated[int, Field(ge=19)] = 1000
    """Permutations behind every permutation p (19 is the fewest that can give p < 0.05)."""

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"damage_texts": 2, "n_boot": 150, "n_perm": 100, "min_n_per_cell": 5},
        "full": {"mtmm_statements": 3, "n_boot": 2000, "n_perm": 2000},
    }
