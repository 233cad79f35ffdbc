"""The atlas page: every model of the run on one page — value profiles, the likeness of their value
geometries, whether their words and internals agree and what steering does to the other values, and the
indifference and lexicon studies' per-model figures side by side. Each panel has a one-sentence reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from valuescope.report.figures import figure_block
from valuescope.report.formatting import as_dict, esc, finite_number, fmt_num, fmt_p, text
from valuescope.report.run_folder import RunFolder, file_inside, model_label
from valuescope.report.tables import metric_table
from valuescope.stats.metrics import ALL_MODELS

ANCHOR = "atlas-page"
ATLAS = "atlas"
AGREEMENT = ("mtmm_convergent", "mtmm_discriminant", "mtmm_criteria_share", "sidefx_amplitude",
             "sidefx_signed_amplitude", "sidefx_r2")  # fmt: skip
"""The atlas metrics of the per-model summary panel."""
SIDE_BY_SIDE = {
    "indifference": ("virtue_vice_cosine", "typicality_spearman", "ari_foundation", "probe_r2"),
    "lexicon": (
        "profile_self_competent", "profile_user_oriented", "profile_social", "profile_idealistic",
        "profile_professional", "profile_ethical",
    ),
}  # fmt: skip
"""Per other study, the per-model metrics shown side by side."""


def atlas_section(run: RunFolder) -> str:
    """The atlas page; empty when the run has no atlas study."""
    if ATLAS not in run.studies:
        return ""
    summary = run.study_summary(ATLAS)
    descriptions = as_dict(run.study_info(ATLAS).get("metrics"))
    parts = [
        f'<section id="{ANCHOR}"><h2>Atlas: the models side by side</h2><p class="lead">Every model of '
        "this run on one page. Each panel starts with what it says.</p>"
    ]
    parts.append(_panel("Value profiles", _profiles_reading(run), _figure(run, "value_profiles")))
    rsa = as_dict(as_dict(summary.get(ALL_MODELS)).get("rsa_value_geometry"))
    parts.append(_panel("Value geometry", _rsa_reading(rsa), _figure(run, "value_geometry")))
    table = metric_table(_only(summary, run.models, AGREEMENT), run.models, descriptions)
    parts.append(_panel("Words against internals; steering's side-effects", _agreement_reading(run, summary),
                        table + _figure(run, "sidefx")))  # fmt: skip
    for study, names in SIDE_BY_SIDE.items():
        if study not in run.studies:
            continue
        other = run.study_summary(study)
        table = metric_table(_only(other, run.models, names), run.models,
                             as_dict(run.study_info(study).get("metrics")))  # fmt: skip
        if table:
            reading = f"The {run.title(study)} study's per-model figures, as its section reports them."
            parts.append(_panel(run.title(study), reading, table))
    return "".join(parts) + "</section>"


def _panel(title: str, reading: str, body: str) -> str:
    return f'<div class="panel"><h3>{esc(title)}</h3><p class="reading">{esc(reading)}</p>{body}</div>'


def _figure(run: RunFolder, name: str) -> str:
    for entry in run.outputs(ATLAS, "figures"):
        if text(entry.get("name")) == name:
            return figure_block(run, entry)
    return ""


def _only(summary: Mapping[str, Any], models: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    return {m: {k: v for k, v in as_dict(summary.get(m)).items() if k in names} for m in models}


def _estimate(entry: Mapping[str, Any]) -> tuple[float | None, str]:
    """The estimate and its text with the interval and p ("below gate" when not a result)."""
    est = finite_number(entry.get("estimate"))
    if est is None:
        return None, "below its instrument's gate" if "ungated" in entry else "not computable"
    lo, hi = finite_number(entry.get("ci_low")), finite_number(entry.get("ci_high"))
    out = fmt_num(round(est, 3))
    if lo is not None and hi is not None:
        out += f" [{fmt_num(round(lo, 3))}, {fmt_num(round(hi, 3))}]"
    p = fmt_p(entry.get("p"))
    return est, out + (f", {p}" if p else "")


def _profiles_reading(run: RunFolder) -> str:
    """The highest- and lowest-rated value per model, from its ``value_profile`` table."""
    import pandas as pd

    parts = []
    for entry in run.outputs(ATLAS, "tables"):
        path = file_inside(run.root, entry.get("file"))
        if text(entry.get("name")) != "value_profile" or path is None:
            continue
        try:
            table = pd.read_csv(path).dropna(subset=["rating"])
        except (ValueError, OSError, KeyError):
            continue
        if table.empty:
            continue
        ordered = table.sort_values("rating")
        top, low = ordered.iloc[-1], ordered.iloc[0]
        parts.append(
            f"{model_label(text(entry.get('model')))} rates {_value(top)} highest and {_value(low)} lowest"
        )
    if not parts:
        return "No value profile was recorded."
    return "; ".join(parts) + " (1-6, unsteered, its own statements); overlapping bands are not differences."


def _value(row: Any) -> str:
    name = str(row["value"]).replace("_", "-")
    return f"{name} ({row['rating']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}])"


def _rsa_reading(rsa: Mapping[str, Any]) -> str:
    est, shown = _estimate(rsa)
    if est is None and "ungated" in rsa:
        return (
            "Computed, but not a result: the value vectors rest on a labeller below its validity gate "
            "(the figure shows the computed cosines)."
        )
    if est is None:
        note = text(rsa.get("note")) or "needs two models with value vectors"
        return f"The models' value geometries cannot be compared here: {note}."
    lo = finite_number(rsa.get("ci_low"))
    p = finite_number(rsa.get("p"))
    alike = lo is not None and lo > 0 and p is not None and p < 0.05
    return f"The models' value-vector cosines correlate at Spearman {shown}: their value geometries are " + (
        "alike beyond shuffled value labels." if alike else "not shown to be alike beyond shuffled labels."
    )


def _agreement_reading(run: RunFolder, summary: Mapping[str, Any]) -> str:
    parts = []
    for model in run.models:
        metrics = as_dict(summary.get(model))
        _, conv = _estimate(as_dict(metrics.get("mtmm_convergent")))
        _, amp = _estimate(as_dict(metrics.get("sidefx_signed_amplitude")))
        parts.append(
            f"{model_label(model)}: same value across methods {conv}; circle-aligned side-effect {amp}"
        )
    if not parts:
        return "No model has atlas metrics."
    return "; ".join(parts) + ". Convergent correlations near 0 mean the methods measure different things."
