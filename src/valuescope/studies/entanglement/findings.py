"""Plain-language findings of the entanglement study, from its metrics and repair table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from valuescope.studies.entanglement.config import DOMAINS

Metrics = dict[str, dict[str, Any]]


def _ci(m: dict[str, Any], digits: int = 2) -> str:
    est, lo, hi = (m.get(k) for k in ("estimate", "ci_low", "ci_high"))
    if not isinstance(est, int | float) or not np.isfinite(est):
        return "n/a"
    out = f"{est:.{digits}f}"
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        out += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    p = m.get("p")
    if isinstance(p, int | float):
        out += ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"
    return out


def _excludes_zero(m: dict[str, Any] | None) -> bool:
    if not m or not isinstance(m.get("ci_low"), int | float) or not isinstance(m.get("ci_high"), int | float):
        return False
    return bool(m["ci_low"] > 0 or m["ci_high"] < 0)


_CONTRAST = {"grammar": "grammatical from ungrammatical sentences", "economic": "good from bad deals"}


_VERDICT = {
    "works": "the repair works: entanglement fell further than under random-direction ablations (p <= 0.05) "
    "while the intended "
    "discrimination stayed within its CI",
    "entanglement unchanged": "the repair does not work: entanglement after it is within the range of "
    "random-direction ablations",
    "damages discrimination": "the repair does not count: it moved the intended discrimination outside "
    "its CI",
    "no entanglement to repair": "there was no reliable entanglement on the held-out frames to repair",
    "controls not computable": "the repair cannot be judged against random-direction ablations (the "
    "comparison is not computable, or there are too few of them for p <= 0.05)",
}


def _significant(m: dict[str, Any]) -> bool:
    p = m.get("p")
    return _excludes_zero(m) and isinstance(p, int | float) and p < 0.05


def model_findings(
    metrics: Metrics, repair: pd.DataFrame | None, verdict: pd.DataFrame | None = None
) -> list[str]:
    """Plain-words sentences on one model's entanglement results: first the overall answer per
    domain, then the evidence, the inside view and the repair. A leak is claimed only when the
    bootstrap CI excludes 0 and the permutation p is below 0.05. ``verdict`` (the ratings step's
    table) says which domains were measured against human ratings."""
    out: list[str] = []
    status: list[str] = []
    human = human_domains(verdict)
    for domain in DOMAINS:
        found = domain_finding(metrics, domain, relative_to_human=domain in human)
        if found is not None:
            out.append(found[0])
            status.append(found[1])
    if status:
        out.insert(0, "In its ratings this model " + "; it ".join(status) + ".")
    out.extend(s for s in (agreement_finding(metrics), inside_view_finding(metrics)) if s is not None)
    return out + repair_findings(metrics, repair)


def human_domains(verdict: pd.DataFrame | None) -> set[str]:
    """The domains whose entanglement is the model's index minus the human index (from the verdict
    table's ``relative_to_human`` column; none when the table or the column is absent)."""
    if verdict is None or "relative_to_human" not in verdict.columns:
        return set()
    return {str(d) for d in verdict.loc[verdict["relative_to_human"].astype(bool), "domain"]}


def domain_finding(
    metrics: Metrics, domain: str, *, relative_to_human: bool = False
) -> tuple[str, str] | None:
    """The sentence on the model's leak into ``domain`` and its short status for the overall answer; None
    without the domain's entanglement and discrimination. No leak is read where the model does not tell
    the domain's contrast apart on its own rating."""
    ent, disc = metrics.get(f"{domain}_entanglement"), metrics.get(f"{domain}_discrimination")
    if not ent or not disc:
        return None
    human = ", relative to the human ratings" if relative_to_human else ""
    if not _excludes_zero(disc) or (disc.get("estimate") or 0) <= 0:
        return (
            f"{domain.capitalize()}: the model does not reliably tell {_CONTRAST[domain]} on its own "
            f"rating (d = {_ci(disc)}), so its {domain} entanglement (d = {_ci(ent)}) cannot be "
            "interpreted.",
            f"cannot be judged on {domain} value (it does not tell {_CONTRAST[domain]})",
        )
    sign = "raises" if (ent.get("estimate") or 0) > 0 else "lowers"
    if _significant(ent):
        verdict = f"moral goodness {sign} its {domain} ratings"
        status = f"entangles moral with {domain} value (d = {ent['estimate']:.2f}{human})"
    elif _excludes_zero(ent):
        verdict = (
            f"the bootstrap CI says moral goodness {sign} its {domain} ratings but the permutation "
            "test does not confirm it"
        )
        status = f"may entangle moral with {domain} value (mixed evidence)"
    else:
        verdict = f"moral goodness does not reliably change its {domain} ratings"
        status = f"shows no reliable moral leak into {domain} value"
    adj = metrics.get(f"{domain}_entanglement_logprob_adjusted")
    adj_text = f"; adjusted for the items' log-probability d = {_ci(adj)}" if adj else ""
    sentence = (
        f"{domain.capitalize()}: the model tells {_CONTRAST[domain]} (d = {_ci(disc)}); {verdict} "
        f"(entanglement d = {_ci(ent)}{human or ', human norm 0'}){adj_text}."
    )
    return sentence, status


def agreement_finding(metrics: Metrics) -> str | None:
    """How well ratings agree across instruction paraphrases and reversed scales, and what a negative
    reversal agreement means."""
    par, rev = metrics.get("agreement_paraphrase"), metrics.get("agreement_reversal")
    if not (par and rev):
        return None
    text = (
        f"Ratings agree across instruction paraphrases r = {_ci(par)} and across reversed scales "
        f"r = {_ci(rev)}"
    )
    if (rev.get("estimate") or 0) < 0:
        text += (
            "; the negative reversal agreement means the model gives the same answer whatever the "
            "anchors say, which pooled ratings cancel (see the per-scale indices)"
        )
    return text + "."


def inside_view_finding(metrics: Metrics) -> str | None:
    """What the moral direction read inside the model does on the grammar items."""
    auroc = metrics.get("moral_direction_auroc_grammar_items")
    transfer = metrics.get("moral_to_grammar_transfer_auroc")
    if not (auroc and transfer):
        return None
    return (
        f"Inside the model (read point {auroc.get('layer')}), a moral direction fit on moral-only items "
        f"separates morally good from bad grammar items with AUROC {_ci(auroc)} and scores grammatical "
        f"above ungrammatical with AUROC {_ci(transfer)} (0.5 = chance)."
    )


def repair_findings(metrics: Metrics, repair: pd.DataFrame | None) -> list[str]:
    """One sentence per domain of the repair table: entanglement before and after ablating the moral
    direction, against random-direction ablations, with the edit's damage and the verdict."""
    kl = metrics.get("repair_kl")
    if repair is None or not kl:
        return []
    rkl = metrics.get("random_ablation_kl")
    cost = f"KL {_ci(kl, 3)} per token on neutral text" + (
        f", random ablations median {rkl['estimate']:.3f} (range {rkl['ci_low']:.3f} to {rkl['ci_high']:.3f})"
        if rkl
        else ""
    )
    out = []
    for row in repair.to_dict("records"):
        p = row.get("rank_p")
        if isinstance(p, int | float) and np.isfinite(p):
            controls = (
                f"random directions {row['random_median']:.2f} (95% range {row['random_low']:.2f} to "
                f"{row['random_high']:.2f}, rank p of the change = {p:.3f})"
            )
        else:
            controls = f"random directions {row.get('controls', 'not computable')}"
        out.append(
            f"Repair, {row['domain']} (moral direction ablated at every read point; {cost}): "
            f"entanglement {row['before']:.2f} before, {row['after']:.2f} after, {controls}; "
            f"{_VERDICT.get(str(row['verdict']), str(row['verdict']))}."
        )
    return out
