"""Configuration of the ``lexicon`` study, with its quick / demo / full profiles."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from valuescope.studies.protocol import StudyConfig


class LexiconConfig(StudyConfig):
    samples: Annotated[int, Field(ge=1)] = 6
    """Sampled answers per elicitation prompt and model."""
    n_prompts: Annotated[int, Field(ge=1)] | None = None
    """Use the first n elicitation prompts (None: all)."""
    temperature: float = 0.9
    top_p: float = 0.95
    max_new_tokens: Annotated[int, Field(ge=4)] = 40
    elicitation: str | None = None
    """User CSV ``prompt_id,framing,prompt,completion`` replacing the package's prompts."""
    min_share: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """A term enters factor analysis only if at least this share of responses names it."""
    rows_per_term: Annotated[int, Field(ge=5)] = 5
    """Factor analysis keeps at most responses / rows_per_term terms (the most frequent)."""
    stems: str | None = None
    anchors: str | None = None
    validation: str | None = None
    """Labelled completions that calibrate the scorer's thresholds (None: the package's)."""
    scorer_validation: str | None = None
    """External labels (CSV or JSON: stem, completion, subdimension, label) to check the scorer."""
    completions_per_stem: Annotated[int, Field(ge=1)] = 1
    completion_tokens: Annotated[int, Field(ge=4)] = 24
    scorer: Literal["embedding", "judge"] = "embedding"
    judge_model: str | None = None
    """The judge scorer's model (any ``--model`` name; None: the model under study)."""
    n_boot: Annotated[int, Field(ge=20)] = 500
    n_perm: Annotated[int, Field(ge=20)] = 500
    min_n_per_cell: int = 5

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {
            "samples": 3,
            "completions_per_stem": 1,
            "max_new_tokens": 32,
            "completion_tokens": 16,
            "n_boot": 100,
            "n_perm": 100,
            "min_n_per_cell": 3,
        },
        "full": {
            "samples": 25,
            "completions_per_stem": 5,
            "max_new_tokens": 80,
            "n_boot": 2000,
            "n_perm": 2000,
        },
    }
