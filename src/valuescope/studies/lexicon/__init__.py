"""``lexicon``: which values do models name for themselves, and how do they group? After ValueLex
(Biedma et al. 2024, "Beyond Human Norms: Unveiling Unique Values of Large Language Models through
Interdisciplinary Approaches").

Per model: sampled answers to authored elicitation prompts (chat template for instruction-tuned
models, a first-person completion framing for base models), parsed into normalised value terms by a
documented filter that does not know the taxonomy; completions of projective sentence stems, scored
per ValueLex subdimension by a calibrated scorer into a 0-100 profile with CIs over stems. Across
models: the terms' embedding clusters, an exploratory factor analysis of responses by terms (KMO,
Bartlett, parallel analysis), and how well the structure covers ValueLex's 3 x 2 taxonomy against
random partitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from valuescope.stats.metrics import metric_descriptions
from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.lexicon.elicit import elicit_step
from valuescope.studies.lexicon.metrics import METRICS, SCORER
from valuescope.studies.lexicon.profiles import compare_profiles, projective_step, scorer_auroc
from valuescope.studies.lexicon.structure import compare_terms
from valuescope.studies.protocol import Artifacts, Result, Step, Study

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Lexicon", "LexiconConfig"]


class Lexicon(Study[LexiconConfig]):
    name = "lexicon"
    title = "Value lexicon: the values models name for themselves"
    description = (
        "Models are asked, in sixteen framings, which values matter to them; the answers are parsed into "
        "normalised value terms (a filter that does not know the taxonomy, with a report of what it "
        "dropped). "
        "Across models the terms are clustered by their sentence embeddings and factor-analysed as a "
        "response-by-term matrix, and the structure is compared with ValueLex's Competence / Character / "
        "Integrity taxonomy against random partitions. Each model also completes projective sentence stems, "
        "scored per subdimension by a calibrated scorer into a 0-100 profile."
    )
    reference = (
        "Biedma et al. (2024). Beyond Human Norms: Unveiling Unique Values of Large Language Models through "
        "Interdisciplinary Approaches."
    )
    Config = LexiconConfig
    metric_specs = METRICS
    metrics = metric_descriptions(METRICS)
    tables: ClassVar[dict[str, str]] = {
        "responses": "Every elicitation answer with its number of value terms.",
        "terms": "Every (response, term) after normalisation and filtering.",
        "term_counts": "Term frequencies for this model.",
        "filter_report": "Candidates the filter dropped, with the rule and counts.",
        "completions": "Every projective completion and its score.",
        "profile": "Per subdimension: % of completions above the calibrated threshold (CI over stems).",
        "calibration": "The scorer's threshold and validation AUROC per subdimension.",
        "scorer_validation": "The scorer's AUROC on the external labels, per subdimension (CI over stems).",
        "term_families": "Every pooled term and the family of derived forms it joins.",
        "family_counts": "Per term family: responses naming it, and the share of each model's responses.",
        "clusters": "Every clustered term family and its cluster (all models pooled).",
        "cluster_silhouette": "Mean cosine silhouette of each candidate number of clusters.",
        "taxonomy_null": "Coverage of the taxonomy against random partitions of the same terms.",
        "taxonomy_tree": "Clusters mapped to their nearest ValueLex subdimension and dimension.",
        "taxonomy_subdimensions": "Per subdimension: the best-matching cluster and its cosine.",
        "loadings": "Factor loadings (pattern matrix) and communalities of the term families analysed.",
        "factor_variance": "Variance explained per factor.",
        "factor_taxonomy": "Per factor and subdimension: cosine of its weighted terms (permutation p).",
        "parallel_analysis": "Observed eigenvalues against the permutation null (parallel analysis).",
        "factor_scores": "Mean factor scores per model.",
        "model_loadings": "Loadings of the model-by-family factor analysis (15 or more models).",
        "model_factor_scores": "Each model's scores on the model-by-family factors.",
        "profile_comparison": "Per model pair and subdimension: paired difference over stems (CI, p, BH q).",
    }
    headline_figure = "profiles"
    figures: ClassVar[dict[str, str]] = {
        "profiles": "Projective profiles: % of completions above the calibrated threshold, with 95% CIs.",
        "top_terms": "The term families each model names most often (% of its responses).",
        "loadings": "Factor loadings of the most frequent term families.",
        "taxonomy_tree": "Term clusters under their nearest ValueLex subdimension and dimension.",
    }

    def steps(self, config: LexiconConfig) -> list[Step]:
        return [
            Step("elicit", elicit_step, needs="behaviour"),
            Step("projective", projective_step, needs="behaviour"),
        ]

    def compare(self, per_model: Mapping[str, Artifacts], config: LexiconConfig, seed: int) -> Artifacts:
        metrics, tables = compare_terms(per_model, config, seed)
        compared = compare_profiles(per_model, config, seed)
        if compared is not None:
            tables["profile_comparison"] = compared
        auroc = scorer_auroc(per_model)
        if auroc is not None:
            metrics["scorer_auroc"] = auroc
        return Artifacts(tables=tables, metrics=metrics)

    def instruments_used(self, config: LexiconConfig, artifacts: Artifacts) -> dict[str, str | None]:
        """The profile rests on the validated polarity scorer, or on one that is not validated."""
        if config.scorer == "polarity":
            return {SCORER: SCORER}
        judge = f" {config.judge_model or 'the model under study'}" if config.scorer == "judge" else ""
        return {SCORER: f"{SCORER} ({config.scorer}{judge})"}

    def findings(self, result: Result) -> dict[str, list[str]]:
        from valuescope.studies.lexicon.findings import findings

        return findings(result)

    def make_figures(self, result: Result) -> dict[str, Figure]:
        from valuescope.studies.lexicon.figures import figures

        return figures(result)
