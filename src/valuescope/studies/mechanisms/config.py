"""Configuration of the ``mechanisms`` study, with its quick / demo / full profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Field, field_validator

from valuescope.studies.protocol import StudyConfig

Language = Literal["en", "zh", "es", "fr", "ko"]
Component = Literal["prompted_only", "intrinsic_only", "shared"]


class MechanismsConfig(StudyConfig):
    n_queries: Annotated[int, Field(ge=4)] = 30
    """Queries used (the first n of the query file); each is answered with and without framings."""
    intrinsic_samples: Annotated[int, Field(ge=1)] = 2
    """Sampled answers per query without a value framing (the intrinsic condition)."""
    framings_per_query: Annotated[int, Field(ge=1, le=10)] = 5
    """How many of the ten value framings each query is answered under (rotating, so every value is
    framed equally often); 10 answers every query under every framing."""
    max_new_tokens: Annotated[int, Field(ge=2)] = 32
    """Length of every answer, in tokens (short by default: generation is this study's cost)."""
    temperature: float = 0.8
    """Sampling temperature of every answer (framed, intrinsic and steered)."""
    top_p: float = 0.95
    """Nucleus-sampling share of every answer."""
    queries: str | None = None
    """User CSV of queries (``query_id,topic,query``), replacing the package's."""
    framings: str | None = None
    """User CSV of value framings (``value,style,paraphrase,text``)."""
    statements: str | None = None
    """User CSV of self-rating statements (``statement_id,value,reverse,text``)."""
    corpus: str | None = None
    """User CSV of responses to use instead of generating them: ``query_id,query,condition,response``
    (condition ``intrinsic`` | ``prompted``), optionally one 0/1 column per value (then no labeller)."""
    pvq40: bool = True
    """Also rate ValueBench's PVQ40 items (a second questionnaire) when the data folder has them."""
    steer_pvq40: bool = False
    """Also read every steering edit on the PVQ40 items (costs two thirds more steering time)."""

    labeller: Literal["head", "embedding", "judge"] = "head"
    """Who decides whether a response expresses a value: the validated head labeller (Touché23-trained
    heads; ``valuescope instruments validate``), the embedding labeller (similarity to value
    descriptions), or a model asked Yes/No (``judge_model``, default the model under study). Only the head
    labeller is validated: with the others every finding from the labels reads as below its gate."""
    labeller_heads: str | None = None
    """Folder of ``valuescope instruments train`` output whose ``touche23-*`` heads the head labeller uses
    instead of the shipped ones; the ``validity.csv`` written beside them gives their gate verdict."""
    judge_model: str | None = None
    """The judge labeller's model (any ``--model`` name; None: the model under study)."""
    label_threshold: float | None = None
    """Score at which a response counts as expressing a value (None: the labeller's own default)."""
    min_positive: Annotated[int, Field(ge=1)] = 5
    """Fewest positive (and negative) responses per value and condition; a value with fewer takes its
    highest-scoring responses instead (recorded in ``label_counts``)."""

    read_point: Literal["best", "middle"] | int = "best"
    """Where value vectors are compared and steering is applied: chosen on half of the queries by
    cross-validated AUROC of the vectors (``best``), the middle read point, or a fixed one."""
    n_splits: Annotated[int, Field(ge=1)] = 4
    """Random splits of the report queries into halves; intrinsic and prompted vectors are always fit on
    different halves, and each condition's two halves give its reliability."""
    neuron_top_fraction: Annotated[float, Field(gt=0, le=1)] = 0.01
    """Share of each block's MLP neurons kept as value neurons (by write-direction projection)."""
    neuron_angle: Annotated[float, Field(gt=0, lt=90)] = 30.0
    """Degrees from the shared axis within which a value neuron counts as shared."""

    alpha_rule: Literal["matched_kl", "fixed"] = "matched_kl"
    """How strongly to steer: every vector at the alpha whose damage (KL on neutral text) is
    ``target_kl`` (``matched_kl``), or every vector at ``alpha`` (``fixed``)."""
    target_kl: Annotated[float, Field(gt=0)] = 0.5
    """Damage (mean KL on neutral text) every steering vector is matched to under ``matched_kl``."""
    alpha: float = 1.0
    """Fixed alpha, and the first probe of ``matched_kl`` (units of the mean residual norm)."""
    alpha_max: Annotated[float, Field(gt=0)] = 16.0
    """Largest alpha the ``matched_kl`` search may try."""
    kl_tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.35
    """Relative band around ``target_kl`` that counts as matched (0.35: 0.65x to 1.35x)."""
    damage_texts: Annotated[int, Field(ge=2)] = 6
    """Reference sentences used to measure every edit's damage."""
    n_random: Annotated[int, Field(ge=1)] = 1
    """Random directions per value at the norm of that value's prompted vector."""
    random_matched: bool = False
    """Also steer with random directions whose alpha is matched to the same damage (a fairer control:
    at equal norm a random direction is far more damaging than a value vector)."""
    steer_values: Annotated[int, Field(ge=3, le=10)] = 5
    """How many of the ten values are steered (each kind of edit, its controls and the diversity
    answers): that many spread evenly round the circle (5: every other value); every value's statements
    are still read. The full profile steers all ten."""
    steer_statements: Annotated[int, Field(ge=1)] = 3
    """Statements per value read under every steering edit (a third of them reverse-keyed; the
    unsteered ratings always use all)."""
    dose_kl: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0]
    )
    """Damage levels (mean KL on neutral text) of the dose-response ladder; the largest is the damage
    budget. Each value vector and random control is read at the strength that reaches each level."""
    dose_values: Annotated[int, Field(ge=2, le=10)] = 3
    """How many of the steered values the dose-response ladder reads (spread over them)."""
    dose_random: Annotated[int, Field(ge=1)] = 1
    """Random directions per value read along the ladder (the control matched on damage)."""
    translations: str | None = None
    """User CSV of translations (``item_id,kind,language,text``; see ``valuescope.data.translations``),
    replacing the package's unofficial ones for the cross-lingual step."""
    languages: list[Language] = Field(default_factory=lambda: list(get_args(Language)))
    """Languages the cross-lingual step reads and steers (English is the reference and must be listed)."""
    crosslingual_null: Annotated[int, Field(ge=19)] = 200
    """Random-direction draws behind the probe-transfer null (19 is the fewest that can give p < 0.05)."""
    compliance_instructions: Annotated[int, Field(ge=2)] = 60
    """Neutral instructions with a checkable constraint in the compliance step (spread over the kinds)."""
    compliance_requests: Annotated[int, Field(ge=2)] = 6
    """AdvBench requests in the compliance step, each asked plain, in role play and with a prefix."""
    compliance_queries: Annotated[int, Field(ge=2)] = 10
    """Harmless real queries (ValuePortrait's, else the package's) for over-refusal and Distinct-2."""
    compliance_components: list[Component] = Field(default_factory=lambda: list(get_args(Component))[:2])
    """Components the compliance step adds and ablates (each costs two rounds of answers; the full
    profile adds ``shared``)."""
    compliance_values: Annotated[int, Field(ge=0, le=10)] = 1
    """How many of the steered values the compliance step also edits one by one (each value's own
    components added at its steering strength, on the instructions only; spread over the steered values;
    each costs one round of answers per component)."""
    compliance_tokens: Annotated[int, Field(ge=4)] = 16
    """Length of every greedy answer in the compliance step, in tokens."""
    neuron_scale: float = 3.0
    """Factor applied to a value's neurons (and to as many random neurons in the same blocks)."""
    diversity_queries: Annotated[int, Field(ge=2)] = 4
    """Queries answered under each steering vector for the diversity measures."""
    n_noise: Annotated[int, Field(ge=1)] = 20
    """Gaussian-noise replicates of the circumplex baseline."""
    n_boot: int = 500
    """Bootstrap resamples behind every confidence interval."""
    n_perm: int = 500
    """Permutations behind every permutation p-value."""
    min_n_per_cell: int = 10
    """Fewest report-half queries the value-vector comparison reports on without a note."""

    @field_validator("dose_kl")
    @classmethod
    def _ascending_levels(cls, value: list[float]) -> list[float]:
        if len(set(value)) != len(value):
            raise ValueError(f"dose_kl lists a damage level twice ({value}); give each level once")
        return sorted(value)

    @field_validator("languages")
    @classmethod
    def _english_first(cls, value: list[Language]) -> list[Language]:
        if "en" not in value:
            raise ValueError("languages must include 'en': every cross-lingual figure is set against English")
        return list(dict.fromkeys(value))

    @field_validator("labeller_heads")
    @classmethod
    def _heads_folder(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_dir():
            raise ValueError(
                f"{value} is not a folder; write one with: valuescope instruments train -o {value}"
            )
        return value

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        # quick is CI's smoke test of every unit, not a finding: steering dominates it (every edit
        # rates the statements and measures its damage), so three steered values, fewer statements per
        # edit, the fewest damage texts and a wider KL band (fewer alpha probes), and the compliance
        # step on the fewest prompts that still give every metric; the demo keeps the defaults, sized
        # to the main job's 30 minutes (5 steered values, 1 value's compliance edits alone; the dose
        # ladder keeps 3 values, as the cross-lingual ratio's CI is over them); the full profile reads
        # all ten where the demo reads a subset.
        "quick": {
            "n_queries": 12,
            "intrinsic_samples": 2,
            "framings_per_query": 5,
            "max_new_tokens": 16,
            "min_positive": 3,
            "steer_values": 3,
            "steer_statements": 1,
            "damage_texts": 2,
            "kl_tolerance": 0.5,
            "diversity_queries": 2,
            "dose_kl": [0.5, 2.0],
            "crosslingual_null": 50,
            "compliance_instructions": 6,
            "compliance_requests": 2,
            "compliance_queries": 3,
            "compliance_tokens": 12,
            "n_noise": 5,
            "n_boot": 150,
            "n_perm": 100,
            "min_n_per_cell": 5,
        },
        "full": {
            "n_queries": 10_000,
            "intrinsic_samples": 5,
            "framings_per_query": 10,
            "steer_pvq40": True,
            "steer_values": 10,
            "random_matched": True,
            "steer_statements": 100,
            "max_new_tokens": 96,
            "min_positive": 10,
            "damage_texts": 40,
            "n_random": 5,
            "diversity_queries": 30,
            "dose_kl": [0.125, 0.25, 0.5, 1.0, 2.0, 4.0],
            "dose_values": 10,
            "dose_random": 3,
            "compliance_instructions": 78,
            "compliance_requests": 100,
            "compliance_queries": 100,
            "compliance_tokens": 64,
            "compliance_components": ["prompted_only", "intrinsic_only", "shared"],
            "compliance_values": 10,
            "n_noise": 100,
            "n_boot": 2000,
            "n_perm": 2000,
        },
    }
