"""Configuration of the ``lexicon`` study, with its quick / demo / full profiles."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from valuescope.studies.lexicon.stimuli import LIST_SYSTEM
from valuescope.studies.protocol import StudyConfig


class LexiconConfig(StudyConfig):
    """Sized for the demo budget (under 4 minutes per embedded model on a 2-core CPU): 16 prompts x 16
    samples = 256 answers of at most 32 tokens took Gemma-3-270M 75 s and SmolLM2-135M 43 s; 60 stems x 3
    completions of 24 tokens 31 s and 24 s. 512 pooled answers keep factor analysis at five or more
    answers per term for up to 100 terms, and a 5% share is 26 answers."""

    samples: Annotated[int, Field(ge=1)] = 16
    """Sampled answers per elicitation prompt and model."""
    n_prompts: Annotated[int, Field(ge=1)] | None = None
    """Use the first n elicitation prompts (None: all)."""
    temperature: Annotated[float, Field(ge=0)] = 0.7
    """Sampling temperature of elicitation answers and stem completions."""
    top_p: Annotated[float, Field(gt=0, le=1)] = 0.95
    """Nucleus-sampling share of elicitation answers and stem completions."""
    max_new_tokens: Annotated[int, Field(ge=4)] = 32
    """Length of each elicitation answer, in tokens."""
    system: str | None = LIST_SYSTEM
    """System message before an instruction-tuned model's elicitation prompts (None: none)."""
    elicitation: str | None = None
    """User CSV ``prompt_id,framing,prompt,completion`` replacing the package's prompts."""
    min_share: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """A term enters factor analysis only if at least this share of responses names it."""
    rows_per_term: Annotated[int, Field(ge=5)] = 5
    """Factor analysis keeps at most responses / rows_per_term terms (the most frequent)."""
    min_models_for_model_factors: Annotated[int, Field(ge=15)] = 15
    """With this many models, the model-by-family matrix is factor-analysed too (ValueLex's design)."""
    min_family_responses: Annotated[int, Field(ge=1)] = 2
    """A term family is clustered only if at least this many responses name it."""
    min_clusters: Annotated[int, Field(ge=2)] = 3
    """Smallest k the silhouette may choose (ValueLex reports three dimensions)."""
    max_clusters: Annotated[int, Field(ge=2)] = 12
    """Largest k the silhouette may choose (lowered to one less than the number of term families)."""
    stems: str | None = None
    """User CSV of projective sentence stems ``stem_id,subdimension,stem`` (None: the package's)."""
    anchors: str | None = None
    """User CSV ``subdimension,description`` describing each subdimension, for the embedding scorer and
    the taxonomy comparisons (None: the package's)."""
    validation: str | None = None
    """Labelled completions that calibrate the scorer's thresholds (None: the package's)."""
    scorer_validation: str | None = None
    """External labels (CSV or JSON: stem, completion, subdimension, label) to check the scorer."""
    completions_per_stem: Annotated[int, Field(ge=1)] = 3
    """Sampled completions per sentence stem and model."""
    completion_tokens: Annotated[int, Field(ge=4)] = 24
    """Length of each stem completion, in tokens."""
    scorer: Literal["polarity", "embedding", "judge"] = "polarity"
    """Who scores completions per subdimension: the validated projective scorer (a polarity head trained
    on ValueBench's keyed items; ``valuescope instruments validate``), similarity to the anchors'
    embeddings, or a judge model. Only the first is validated: with the others the profile reads as
    below its gate."""
    judge_model: str | None = None
    """The judge scorer's model (any ``--model`` name; None: the model under study)."""
    n_boot: Annotated[int, Field(ge=20)] = 500
    """Bootstrap resamples behind every confidence interval."""
    n_perm: Annotated[int, Field(ge=20)] = 500
    """Permutations behind every permutation p-value (cluster and factor agreement with the taxonomy)."""

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        # quick is CI's smoke test of every unit, not a finding: two answers per prompt, shorter
        # answers and completions (generation is this study's cost); the demo keeps the defaults.
        "quick": {
            "samples": 2,
            "completions_per_stem": 1,
            "max_new_tokens": 24,
            "completion_tokens": 12,
            "n_boot": 100,
            "n_perm": 100,
        },
        "full": {
            "samples": 40,
            "completions_per_stem": 5,
            "max_new_tokens": 64,
            "n_boot": 2000,
            "n_perm": 2000,
        },
    }
