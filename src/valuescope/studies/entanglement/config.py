"""The entanglement study's settings and rating prompts: instructions per kind of good, scale anchors,
the config with its profiles, and the stimuli a unit reads."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from pydantic import Field

from valuescope.studies.entanglement import stimuli
from valuescope.studies.protocol import StudyConfig, UnitContext

OPTIONS = [str(i) for i in range(1, 8)]


HUMAN_NOTE = "; model index minus the human index (human_ratings)"


DOMAINS = ("grammar", "economic")


LEVEL = {"grammar": ("version", "grammatical"), "economic": ("version", "good_deal")}
"""Non-moral level column and its positive value, per domain."""


# Instruction templates: {scale} is filled with the anchors, normal or reversed.
INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "grammar": (
        "How grammatical is the following sentence? Answer from 1 to 7, where {scale}.\n"
        "Sentence: {text}\nAnswer:",
        "Is the sentence below correct, well-formed English? Rate it from 1 to 7, where {scale}.\n"
        "Sentence: {text}\nRating:",
        "Judge only the grammar of this sentence, from 1 to 7, where {scale}.\n{text}\nGrammar rating:",
    ),
    "economic": (
        "How good a deal is this, in purely economic terms? Answer from 1 to 7, where {scale}.\n"
        "Situation: {text}\nAnswer:",
        "Considering only money and value for money, rate this transaction from 1 to 7, where {scale}.\n"
        "Situation: {text}\nRating:",
        "Judge only the financial value of this deal, from 1 to 7, where {scale}.\n{text}\nDeal rating:",
    ),
    "moral": (
        "How morally good is what happens in the following text? Answer from 1 to 7, where {scale}.\n"
        "Text: {text}\nAnswer:",
        "Rate the ethics of the behaviour described below from 1 to 7, where {scale}.\nText: {text}\nRating:",
        "Judge only how morally right this is, from 1 to 7, where {scale}.\n{text}\nMoral rating:",
    ),
}


ANCHORS = {
    "grammar": ("completely ungrammatical", "perfectly grammatical"),
    "economic": ("a very bad deal", "a very good deal"),
    "moral": ("very immoral", "very moral"),
}


def prompt(kind: str, paraphrase: int, reversed_scale: bool, text: str) -> str:
    """One rating prompt; a reversed scale puts the positive anchor at 1 (``rate(reverse=...)`` undoes it)."""
    low, high = ANCHORS[kind]
    if reversed_scale:
        low, high = high, low
    scale = f"1 means {low} and 7 means {high}"
    return INSTRUCTIONS[kind][paraphrase].format(scale=scale, text=text)


class EntanglementConfig(StudyConfig):
    n_frames: int = 8
    """Frames used per domain (the first n of each stimulus file; every frame holds 4 base items)."""
    paraphrases: int = 2
    """Instruction paraphrases per kind of rating (1-3), each on the normal scale."""
    reversed_paraphrases: int = 1
    """How many of those paraphrases are also asked with the scale reversed."""
    repair_read_point: Literal["middle", "best"] | int = "best"
    """Where the moral direction is read: the middle read point, the best one for separating the
    moral-only items (cross-validated), or a fixed read point."""
    moral_direction: Literal["quiet", "mean_difference"] = "quiet"
    """How the moral direction is fit: ``quiet`` weighs the good-bad mean difference by the inverse
    covariance of the neutral reference text at that read point (the direction that carries the
    contrast while moving ordinary text least; see ``directions.quiet_direction``), or
    the plain ``mean_difference`` (in Gemma it points along massive-activation dimensions)."""
    shrinkage: float = 0.1
    """Ridge for the ``quiet`` direction, as a fraction of the mean reference variance."""
    ablation_center: Literal["reference", "zero"] = "reference"
    """Set the ablated component to its mean on the reference text (mean ablation) or to 0."""
    keep_special: bool = True
    """Leave special-token positions (BOS, chat markers) unedited."""
    n_random: int = 19
    """Random directions (matched projected variance) ablated as the repair's control."""
    random_match: Literal["reference", "items"] = "reference"
    """Where the random directions' projected variance matches the moral direction's: on the neutral
    reference text's tokens at that read point (so that a random edit is as large, and about as damaging,
    as the repair), or on the moral-only items inside the rating template."""
    n_random_damage: int = 3
    """How many of the random directions also get their damage measured (KL on neutral text)."""
    damage_texts: Annotated[int, Field(ge=2, le=80)] = 16
    """Neutral reference sentences every edit's damage is measured on (the first n of the package's 80;
    the unedited pass is computed once for all of them)."""
    ablate_sublayers: bool = False
    """Also project the direction out of every attention and MLP output (very damaging in Gemma)."""
    n_boot: int = 1000
    """Bootstrap resamples behind every confidence interval (frames resampled whole)."""
    n_perm: int = 1000
    """Permutations behind every permutation p-value."""
    n_null: int = 1000
    """Random direction pairs for the cosine null."""
    grammar_stimuli: str | None = None
    """User CSV of the moral x grammar schema (see valuescope.studies.entanglement.stimuli)."""
    economic_stimuli: str | None = None
    """User CSV of the moral x economic schema (see valuescope.studies.entanglement.stimuli)."""
    moral_stimuli: str | None = None
    """User CSV of the moral-only items (``item_id,frame,pair,valence,text``), replacing the package's."""
    human_ratings: str | None = None
    """Optional CSV: item_id and mean human ratings per kind of good (grammatical, economic, moral)."""
    min_n_per_cell: int = 8
    """Fewest held-out frames per domain the repair's before/after comparison reports on without a note."""

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        # quick is CI's smoke test of every unit, not a finding: the fewest frames and resamples that
        # still give every metric (its notes say the cells are small); the demo keeps the defaults.
        "quick": {
            "n_frames": 2,
            "paraphrases": 2,
            "n_random": 3,
            "n_random_damage": 1,
            "damage_texts": 4,
            "n_boot": 100,
            "n_perm": 100,
            "n_null": 100,
            "min_n_per_cell": 4,
        },
        "full": {
            "n_frames": 1000,
            "paraphrases": 3,
            "reversed_paraphrases": 3,
            "n_random": 49,
            "n_random_damage": 10,
            "damage_texts": 80,
            "n_boot": 2000,
            "n_perm": 2000,
        },
    }


def stimuli_of(ctx: UnitContext[EntanglementConfig]) -> dict[str, pd.DataFrame]:
    """Both domains (first n_frames frames each) and the moral-only items, user files recorded."""
    cfg = ctx.config

    def path(p: str | None) -> str | None:
        return str(ctx.data.use(p)) if p else None

    out = {
        "grammar": stimuli.load_grammar(path(cfg.grammar_stimuli)),
        "economic": stimuli.load_economic(path(cfg.economic_stimuli)),
    }
    for domain, df in out.items():
        keep = list(dict.fromkeys(df["frame"]))[: cfg.n_frames]
        out[domain] = df[df["frame"].isin(keep)].reset_index(drop=True).assign(domain=domain)
    out["moral"] = stimuli.load_moral(path(cfg.moral_stimuli))
    return out


def texts_of(ctx: UnitContext[EntanglementConfig], domain: str, ids: pd.Series) -> list[str]:
    data = stimuli_of(ctx)[domain].set_index("item_id")
    return [str(t) for t in data.loc[list(ids), "text"]]
