"""``entanglement``: does moral good leak into grammatical and economic judgments, and does ablating
the moral direction repair it? After Cho, Li & Leshinskaya (2026).

Per model: Likert ratings of matched stimuli (moral x grammar, moral x economic) under three
instructions in paraphrases and reversed scales; entanglement indices (Cohen's d of morally good vs bad
items on the non-moral rating, within each non-moral level) against the human norm, also adjusted for
the items' log-probability; discriminations of the intended contrasts; the same contrasts in a
sentence-embedding model and along the residual stream (direction cosines against a null of random
directions drawn from the items' covariance,
cross-domain probe transfer as AUROC); and a repair: ablate one moral direction at every read point
and compare with random directions of matched projected variance, with the edit's damage.
Every resampling and split is grouped by frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from valuescope.stats.metrics import metric_descriptions
from valuescope.studies.entanglement.config import EntanglementConfig
from valuescope.studies.entanglement.figures import make_figures
from valuescope.studies.entanglement.findings import model_findings
from valuescope.studies.entanglement.geometry import embedding_step, residual_step
from valuescope.studies.entanglement.metrics import METRICS
from valuescope.studies.entanglement.ratings import logprob_step, ratings_step
from valuescope.studies.entanglement.repair import repair_step
from valuescope.studies.protocol import Result, Step, Study

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Entanglement(Study[EntanglementConfig]):
    name = "entanglement"
    title = "Value entanglement: moral good in grammatical and economic judgments"
    description = (
        "Does moral goodness leak into a model's grammatical and economic judgments? Matched stimuli cross "
        "moral valence with grammaticality and with the economic value of a deal; the human norm is that "
        "neither depends on moral valence. Entanglement is Cohen's d of morally good vs bad items on the "
        "non-moral rating within each non-moral level (positive: moral goodness raises the rating), with "
        "frame-grouped bootstrap CIs and permutation p-values. The same contrasts are read from a sentence-"
        "embedding model and from the residual stream at every read point; the repair ablates one moral "
        "direction at every read point and compares it with random directions of matched projected variance."
    )
    reference = (
        "Cho, Li & Leshinskaya (2026). Value Entanglement: Conflation Between Different Kinds of Good in "
        "(Some) Large Language Models."
    )
    Config = EntanglementConfig
    metric_specs = METRICS
    metrics = metric_descriptions(METRICS)
    tables: ClassVar[dict[str, str]] = {
        "ratings": "Every item rated under each instruction, paraphrase and scale direction.",
        "verdict": "Plain-words statement of the entanglement per domain.",
        "layers": "Per read point: moral-vs-domain direction cosines (random null p, BH q), transfer AUROCs.",
        "embeddings": "The same geometry in all-MiniLM-L6-v2 sentence embeddings.",
        "repair": "Per domain: entanglement before and after the repair, the random range, the verdict.",
        "repair_random": "Entanglement after ablating the moral direction and each random direction.",
    }
    headline_figure = "repair"
    figures: ClassVar[dict[str, str]] = {
        "transfer_by_layer": "AUROC of the moral direction (fit on moral-only items) per read point: "
        "separating good from bad domain items, and transferring to grammaticality and deal value "
        "(95% CI; 0.5 = chance).",
        "repair": "Entanglement on the held-out frames (first paraphrase, normal scale) before and after "
        "ablating the moral direction, with the range after random directions.",
    }

    def steps(self, config: EntanglementConfig) -> list[Step]:
        return [
            Step("ratings", ratings_step, needs="behaviour"),
            Step("logprob", logprob_step),
            Step("embeddings", embedding_step, needs="none"),
            Step("residuals", residual_step),
            Step("repair", repair_step),
        ]

    def findings(self, result: Result) -> dict[str, list[str]]:
        out = {}
        for model in result.models:
            art = result.per_model[model]
            out[model] = model_findings(art.metrics, art.tables.get("repair"), art.tables.get("verdict"))
        return out

    def make_figures(self, result: Result) -> dict[str, Figure]:
        return make_figures(result)
