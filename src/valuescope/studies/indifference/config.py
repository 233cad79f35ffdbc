"""Configuration of the ``indifference`` study, with its quick / demo / full profiles."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from valuescope.studies.protocol import StudyConfig

DIAGNOSTICS = ("virtue_vice_cosine", "typicality_spearman", "ari_valence", "ari_foundation", "probe_r2")
"""The four diagnostics (structural twice: valence and foundation), as metric names."""


class IndifferenceConfig(StudyConfig):
    lexicon: Literal["moralstrength", "social-chem"] = "moralstrength"
    """Ground truth: MoralStrength's graded word lexicon (offline default) or a Social-Chemistry-101
    TSV (``social_chem`` or ``social-chem-101/social-chem-101.v1.0.tsv`` in the data folder)."""
    moralstrength: str | None = None
    """Folder with MoralStrength's five TSVs (None: the installed ``moralstrength`` package's)."""
    moralstrength_version: Literal["1.1", "original"] = "1.1"
    """MoralStrength's files: version 1.1 (every inflection, grouped by lemma) or the original lemmas."""
    social_chem: str | None = None
    """Path of the Social-Chemistry-101 TSV (None: its usual path in the data folder, see ``lexicon``)."""
    social_chem_unit: Literal["action", "rot"] = "action"
    """Social-Chem items: the actions or the rules of thumb (``rot``)."""
    social_chem_rows: Annotated[int, Field(ge=1)] | None = 50_000
    """Read only the first rows of the TSV (the full file has 356k)."""
    min_agree: Annotated[int, Field(ge=0, le=4)] = 2
    """Social-Chem rows need at least this annotator agreement (0-4; 2: about half of people agree)."""
    multi_foundation: Literal["primary", "drop"] = "primary"
    """Items rated under several foundations: keep them under their strongest foundation (all ratings
    stay in the 10-d vector) or drop them."""
    max_lemmas: Annotated[int, Field(ge=20)] | None = None
    """Use at most this many moral lemmas (a stratified sample over foundation x pole; None: all)."""
    neutral_ratio: Annotated[float, Field(gt=0, le=2)] = 0.5
    """Neutral items per moral item (single words matched for frequency and length)."""
    carrier: str | None = "auto"
    """Template the item is read in: ``{item}`` must end it; only the item's own tokens are pooled
    (in a causal model later text cannot change them). ``auto``: "Consider the word: {item}" for words,
    "Consider this action: {item}" for Social-Chem; None: the bare item."""
    pool: Literal["mean", "last"] = "mean"
    """Pool the item's tokens by their mean or take its last token."""
    choose_by: Literal[
        "virtue_vice_cosine", "typicality_spearman", "ari_valence", "ari_foundation", "probe_r2"
    ] = "probe_r2"
    """Diagnostic that picks the read point on half A of the lemmas (cosine: lowest; others: highest)."""
    n_perm: Annotated[int, Field(ge=1)] = 1
    """Shuffled-label replicates per read point for the curves' null."""
    n_blocks: Annotated[int, Field(ge=5)] = 10
    """Blocks of lemmas for the delete-a-block jackknife intervals (each block left out once)."""

    sae: str | None = None
    """A pretrained SAE folder in SAELens' layout (``cfg.json`` + ``sae_weights.safetensors``) for the
    model and read point; None trains a TopK SAE here (demonstration scale on a CPU)."""
    sae_corpus: str | None = None
    """Text file / CSV / JSONL to train the SAE on (None: half A's items plus neutral sentences)."""
    sae_width: Annotated[int, Field(ge=16)] = 2048
    """Latents of the SAE trained here (unused with a pretrained ``sae``)."""
    sae_k: Annotated[int, Field(ge=1)] = 16
    """Active latents per token of the TopK SAE trained here."""
    sae_steps: Annotated[int, Field(ge=10)] = 300
    """Training steps of the SAE trained here."""
    sae_batch: Annotated[int, Field(ge=16)] = 1024
    """Tokens per training batch of the SAE trained here."""
    min_auroc: Annotated[float, Field(gt=0.5, lt=1)] = 0.65
    """Smallest AUROC (foundation x pole vs everything else, on half A) for a moral feature."""
    features_per_class: Annotated[int, Field(ge=1)] = 8
    """At most this many moral features per foundation x pole (those of highest AUROC above ``min_auroc``)."""

    repair_steps: Annotated[int, Field(ge=10)] = 400
    """Optimiser (Adam) steps fitting the repair map inside the moral features' subspace."""
    keep_weight: Annotated[float, Field(ge=0)] = 1.0
    """Weight of the penalty on moving neutral text inside the edited subspace."""
    n_random_edits: Annotated[int, Field(ge=10)] = 19
    """Controls per kind (random subspaces matched on the repair's displacement; refits to permuted
    targets). With fewer than 19 no p-value can fall below 0.05, which the metrics' notes then say."""
    damage_texts: Annotated[int, Field(ge=2)] = 8
    """Neutral reference sentences every edit's damage (KL) is measured on (the first n of the package's)."""

    judge_model: str | None = "smollm2-135m-instruct"
    """Model that compares answers with and without the repair: any ``--model`` name, including one the
    run file declares under ``api_models`` (an OpenAI-compatible server); ``self``: the model under study;
    None: skip the behaviour test. It must pass the gate first."""
    prompts: str | None = None
    """Adversarial prompts: ``flames`` (Flames' 1k Chinese prompts from the data folder), a Flames-style
    ``.jsonl``, a CSV ``prompt_id,dimension,prompt``, or None: the package's 30 English prompts."""
    n_prompts: Annotated[int, Field(ge=2)] = 12
    """Prompts answered with and without the repair (kept in proportion across the prompts' dimensions)."""
    max_new_tokens: Annotated[int, Field(ge=4)] = 48
    """Length of each answer with and without the repair, in tokens."""
    min_consistency: Annotated[float, Field(ge=0, le=1)] = 0.8
    """Judge gate: smallest share of the shipped pairs on which both answer orders pick the same one."""
    min_accuracy: Annotated[float, Field(ge=0, le=1)] = 0.75
    """Judge gate: smallest share of the shipped pairs on which the judge favours the better answer."""
    min_n_per_cell: int = 10
    """Smallest number of independent units per cell (declared for the profiles; no step checks it yet)."""

    @field_validator("carrier")
    @classmethod
    def _carrier_ends_with_item(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        if value.count("{item}") != 1 or not value.endswith("{item}"):
            raise ValueError(
                f"carrier={value!r}: it must contain {{item}} once, at its end (text after the item cannot "
                "change the item's residuals in a causal model); e.g. 'Consider the word: {item}'"
            )
        return value

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {
            "max_lemmas": 160,
            "sae_width": 512,
            "sae_k": 8,
            "sae_steps": 120,
            "sae_batch": 256,
            "repair_steps": 150,
            "n_random_edits": 10,  # CI smoke test: the fewest controls allowed (p cannot fall below 0.05)
            "damage_texts": 4,
            "n_prompts": 4,
            "max_new_tokens": 16,
            "min_n_per_cell": 5,
        },
        "full": {
            "n_perm": 5,
            "n_blocks": 50,
            "sae_width": 8192,
            "sae_k": 32,
            "sae_steps": 4000,
            "sae_batch": 2048,
            "features_per_class": 10,
            "repair_steps": 1000,
            "n_random_edits": 50,
            "damage_texts": 40,
            "n_prompts": 60,
            "max_new_tokens": 128,
        },
    }
