"""What the ``lexicon`` results say in plain words: across models (terms, clusters, taxonomy, factors,
profile comparisons) and per model (responses, top terms, projective profile)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from valuescope.data.valuelex import SUBDIMENSIONS
from valuescope.stats.metrics import ALL_MODELS, BELOW_GATE, gate_note
from valuescope.studies.protocol import Artifacts, Result

ALPHA = 0.05
N_TOP_TERMS = 5
N_FACTOR_TERMS = 3
FACTOR_COLUMN = re.compile(r"^F(\d+)$")
KAISER = (
    (0.5, "unacceptable"),
    (0.6, "miserable"),
    (0.7, "mediocre"),
    (0.8, "middling"),
    (0.9, "meritorious"),
)


def _num(x: Any) -> float | None:
    """``x`` as a finite float, else None."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        try:
            x = float(x)
        except (TypeError, ValueError):
            return None
    value = float(x)
    return value if math.isfinite(value) else None


def _field(m: Mapping[str, Any] | None, key: str = "estimate") -> float | None:
    return None if m is None else _num(m.get(key))


def _note(m: Mapping[str, Any] | None) -> str:
    note = "" if m is None else str(m.get("note") or "")
    return note or "no reason recorded"


def _not_computed(what: str, m: Mapping[str, Any] | None) -> str:
    return f"{what} was not computed ({_note(m)})."


def _p(value: float, label: str = "p") -> str:
    """``p = 0.002``, or ``p < 0.001`` below 0.001."""
    return f"{label} < 0.001" if value < 0.001 else f"{label} = {value:.3f}"


def _finite_p(value: Any) -> float | None:
    """A p-value from a table cell, or None where it was not computable (None, NaN)."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return p if math.isfinite(p) else None


def _ci(m: Mapping[str, Any], fmt: str = ".2f", unit: str = "") -> str:
    """The estimate with its interval, e.g. ``0.27 [0.23, 0.29]`` or ``62% [50, 75]``."""
    est, lo, hi = _field(m), _field(m, "ci_low"), _field(m, "ci_high")
    text = format(est, fmt) + unit if est is not None else "n/a"
    return text + (f" [{lo:{fmt}}, {hi:{fmt}}]" if lo is not None and hi is not None else "")


def _count(m: Mapping[str, Any]) -> str:
    est = _field(m)
    return "n/a" if est is None else f"{est:.0f}"


def _table(art: Artifacts | None, name: str) -> pd.DataFrame | None:
    table = None if art is None else art.tables.get(name)
    return table if isinstance(table, pd.DataFrame) and len(table) else None


def kaiser_label(kmo: float) -> str:
    """Kaiser's verdict on a KMO value (unacceptable below 0.5 ... marvelous from 0.9)."""
    return next((label for bound, label in KAISER if kmo < bound), "marvelous")


def _terms_and_clusters(metrics: Mapping[str, Any]) -> list[str]:
    terms, k = metrics.get("n_terms"), metrics.get("n_clusters")
    out: list[str] = []
    if terms is not None and _field(terms) is not None:
        text = f"The models named {_count(terms)} distinct value terms"
        if k is not None and _field(k) is not None:
            out.append(f"{text}; their embeddings form {_count(k)} clusters.")
            return out
        out.append(f"{text}.")
    elif terms is not None:
        out.append(_not_computed("The number of distinct value terms", terms))
    if k is not None and _field(k) is None:
        out.append(_not_computed("Clustering of the terms", k))
    return out


def _agreement(art: Artifacts) -> list[str]:
    m = art.metrics.get("taxonomy_agreement")
    if m is None:
        return []
    if _field(m) is None:
        return [_not_computed("Agreement with ValueLex's taxonomy", m)]
    table = _table(art, "taxonomy_null")
    if table is not None:
        row = table.iloc[0]
        null = (
            f", which give a median of {row['null_median']:.2f} [{row['null_low']:.2f}, "
            f"{row['null_high']:.2f}] over {int(row['n_perm'])} draws"
        )
    else:
        null = f"; {m['note']}" if m.get("note") else ""
    text = f"Clusters cover ValueLex's six subdimensions with mean best cosine {_ci(m)}"
    p = _field(m, "p")
    if p is None:
        return [f"{text} (no p-value against random partitions{null})."]
    verdict = "better than chance" if p < ALPHA else "not better than chance"
    return [f"{text} ({_p(p)} against random partitions of the same terms{null}): {verdict}."]


def _factors(metrics: Mapping[str, Any]) -> list[str]:
    nf, kmo = metrics.get("n_factors"), metrics.get("kmo")
    if nf is None and kmo is None:
        return []
    if _field(nf) is None and _field(kmo) is None:
        return [_not_computed("Factor analysis", nf if nf is not None else kmo)]
    parts = [
        f"{_count(nf)} factor{'' if _field(nf) == 1 else 's'} by parallel analysis"
        if nf is not None and _field(nf) is not None
        else f"the number of factors was not computed ({_note(nf)})"
    ]
    value = _field(kmo)
    if value is not None and kmo is not None:
        bartlett = _field(kmo, "p")
        test = f" (Bartlett {_p(bartlett)})" if bartlett is not None else ""
        parts.append(f"KMO {value:.2f}{test}, {kaiser_label(value)} by Kaiser's labels")
    else:
        parts.append(f"KMO was not computed ({_note(kmo)})")
    return [f"Factor analysis: {'; '.join(parts)}."]


def _subdimension_table(table: pd.DataFrame) -> pd.DataFrame:
    """``taxonomy_agreement``'s per-subdimension table with ``subdimension`` as a column."""
    if "subdimension" not in table.columns:
        table = table.reset_index()
        if "subdimension" not in table.columns:
            table = table.rename(columns={table.columns[0]: "subdimension"})
    return table


def _subdimensions(art: Artifacts) -> list[str]:
    table = _table(art, "taxonomy_subdimensions")
    if table is None:
        return []
    table = _subdimension_table(table)
    if "cosine" not in table.columns:
        return []
    table = table.assign(cosine=pd.to_numeric(table["cosine"], errors="coerce")).dropna(subset=["cosine"])
    if table.empty:
        return []
    names: dict[Any, str] = {}
    tree = _table(art, "taxonomy_tree")
    if tree is not None and {"cluster", "name"} <= set(tree.columns):
        names = {c: str(n) for c, n in zip(tree["cluster"], tree["name"], strict=True)}

    def label(row: Mapping[Any, Any]) -> str:
        cluster = names.get(row.get("best_cluster"))
        return f"{row['subdimension']} ({row['cosine']:.2f}" + (f", cluster '{cluster}')" if cluster else ")")

    rows = table.sort_values("cosine", ascending=False).to_dict("records")
    out = [
        f"Best matched subdimension: {label(rows[0])}; worst matched: {label(rows[-1])} "
        "(cosine of the nearest cluster centroid)."
    ]
    if "p" in table.columns:
        ps = {str(r["subdimension"]): _finite_p(r["p"]) for r in rows}
        good = [name for name, p in ps.items() if p is not None and p < ALPHA]
        poor = [name for name, p in ps.items() if p is None or p >= ALPHA]
        out.append(
            f"Beyond random partitions of the same terms (p < {ALPHA}), a cluster matches "
            f"{', '.join(good) or 'no subdimension'}; not {', '.join(poor) or 'any other'}."
        )
    return out


def _loadings(art: Artifacts) -> list[str]:
    table = _table(art, "loadings")
    if table is None:
        return []
    found = [(int(m.group(1)), str(c)) for c in table.columns if (m := FACTOR_COLUMN.match(str(c)))]
    terms = table["term"].astype(str) if "term" in table.columns else table.index.astype(str)
    parts: list[str] = []
    for _, factor in sorted(found):
        values = pd.Series(pd.to_numeric(table[factor], errors="coerce").to_numpy(), index=list(terms))
        values = values.dropna()
        if values.empty:
            continue
        top = values.reindex(values.abs().sort_values(ascending=False).index[:N_FACTOR_TERMS])
        parts.append(
            f"{factor}: " + ", ".join(str(t) if v >= 0 else f"{t} (negative)" for t, v in top.items())
        )
    return [f"Highest-loading terms per factor: {'; '.join(parts)}."] if parts else []


def _scorer(metrics: Mapping[str, Any]) -> list[str]:
    m = metrics.get("scorer_auroc")
    if m is None:
        return []
    if _field(m) is None:
        return [_not_computed("The scorer's AUROC against external labels", m)]
    note = f" ({m['note']})" if m.get("note") else ""
    return [f"The projective scorer separates external labels with AUROC {_ci(m)}{note}."]


def _comparisons(art: Artifacts, gated: str | None = None) -> list[str]:
    table = _table(art, "profile_comparison")
    if table is None or not {"model_a", "model_b", "subdimension"} <= set(table.columns):
        return []
    if gated is not None:
        return [f"Profile comparisons: not reported as a result: {BELOW_GATE} (the profiles' scorer)."]
    out: list[str] = []
    for (a, b), pair in table.groupby(["model_a", "model_b"], sort=False):
        sides: dict[str, list[str]] = {"higher": [], "lower": []}
        for row in pair.to_dict("records"):
            q, diff = _num(row.get("q")), _num(row.get("difference"))
            a_pct, b_pct = _num(row.get("a_percent")), _num(row.get("b_percent"))
            if diff is None and a_pct is not None and b_pct is not None:
                diff = a_pct - b_pct
            if q is not None and diff is not None and q < ALPHA and diff != 0:
                side = "higher" if diff > 0 else "lower"
                sides[side].append(f"{row['subdimension']} ({diff:+.0f} points, {_p(q, 'q')})")
        phrases = [f"{side} than {b} on {', '.join(subs)}" for side, subs in sides.items() if subs]
        if phrases:
            out.append(f"{a} scores {'; '.join(phrases)}.")
        else:
            out.append(f"{a} and {b}: no subdimension differs after correction for multiple comparisons.")
    return out


def silhouette_label(value: float) -> str:
    """Kaufman & Rousseeuw's reading of a mean silhouette."""
    if value > 0.70:
        return "strong structure"
    if value > 0.50:
        return "reasonable structure"
    if value > 0.25:
        return "weak structure"
    return "no substantial structure"


def _silhouette(art: Artifacts) -> list[str]:
    table = art.tables.get("cluster_silhouette")
    k = art.metrics.get("n_clusters")
    if table is None or table.empty or k is None or _field(k) is None:
        return []
    chosen = table.loc[table["k"] == _field(k), "silhouette"]
    if chosen.empty:
        return []
    value = float(chosen.iloc[0])
    return [
        f"The chosen k has mean silhouette {value:.2f} (k {int(table['k'].min())}-{int(table['k'].max())} "
        f"range {float(table['silhouette'].min()):.2f}-{float(table['silhouette'].max()):.2f}): "
        f"{silhouette_label(value)} by Kaufman and Rousseeuw's labels, so the clusters are a summary of the "
        "terms rather than natural groups."
        if value <= 0.25
        else f"The chosen k has mean silhouette {value:.2f}: {silhouette_label(value)} by Kaufman and "
        "Rousseeuw's labels."
    ]


def _factor_taxonomy(art: Artifacts) -> list[str]:
    table = art.tables.get("factor_taxonomy")
    if table is None or table.empty:
        return []
    parts = []
    for factor, rows in table.groupby("factor", sort=False):
        top = rows.sort_values("cosine", ascending=False).to_dict("records")[0]
        p = _finite_p(top["p"])
        if p is None:
            parts.append(
                f"{factor} is closest to {top['subdimension']} (cosine {float(top['cosine']):.2f}; not "
                "computable against shuffled loadings: their null has no spread)"
            )
            continue
        verdict = "beyond" if p < 0.05 else "not beyond"
        parts.append(
            f"{factor} is closest to {top['subdimension']} (cosine {float(top['cosine']):.2f}, {_p(p)}: "
            f"{verdict} what the same loadings give when shuffled across terms)"
        )
    return [f"Against the taxonomy: {'; '.join(parts)}."]


def across_findings(art: Artifacts, gated: str | None = None) -> list[str]:
    """Sentences on the pooled terms: clusters, taxonomy agreement, factors and profile comparisons
    (``gated``: the note of profiles resting on a scorer below its gate, which the comparisons follow)."""
    m = art.metrics
    return [
        *_terms_and_clusters(m),
        *_silhouette(art),
        *_agreement(art),
        *_subdimensions(art),
        *_factors(m),
        *_loadings(art),
        *_factor_taxonomy(art),
        *_scorer(m),
        *_comparisons(art, gated),
    ]


def _responses(model: str, metrics: Mapping[str, Any]) -> list[str]:
    resp, terms = metrics.get("n_responses"), metrics.get("n_model_terms")
    out: list[str] = []
    if resp is not None:
        out.append(
            f"{model} gave {_count(resp)} elicitation responses."
            if _field(resp) is not None
            else _not_computed(f"The number of {model}'s responses", resp)
        )
    if terms is not None:
        if _field(terms) is None:
            out.append(_not_computed(f"The number of {model}'s distinct value terms", terms))
        else:
            note = f" ({terms['note']})" if terms.get("note") else ""
            out.append(f"It named {_count(terms)} distinct value terms{note}.")
    return out


def _top_terms(art: Artifacts) -> list[str]:
    table = _table(art, "term_counts")
    if table is None or "term" not in table.columns:
        return []
    column = "responses" if "responses" in table.columns else "count" if "count" in table.columns else None
    parts = []
    for row in table.head(N_TOP_TERMS).to_dict("records"):
        n = _num(row.get(column)) if column else None
        unit = "responses" if column == "responses" else "mentions"
        parts.append(f"{row['term']} ({n:.0f} {unit})" if n is not None else str(row["term"]))
    return [f"Its most frequent terms: {', '.join(parts)}."]


def _profile_gate(metrics: Mapping[str, Any]) -> str | None:
    """The note of a profile that rests on a scorer below its validity gate, else None."""
    return next((n for s in SUBDIMENSIONS if (n := gate_note(metrics.get(f"profile_{s}")))), None)


def _profile(metrics: Mapping[str, Any]) -> list[str]:
    entries = {s: metrics[f"profile_{s}"] for s in SUBDIMENSIONS if f"profile_{s}" in metrics}
    if not entries:
        return []
    if (gated := _profile_gate(metrics)) is not None:
        return [f"Projective profile: not reported as a result: {gated}."]
    done = {s: m for s, m in entries.items() if _field(m) is not None}
    absent = [s for s in entries if s not in done]
    out: list[str] = []
    if done:
        ranked = sorted(done, key=lambda s: _field(done[s]) or 0.0, reverse=True)
        hi, lo = ranked[0], ranked[-1]
        out.append(
            f"Projective profile: highest on {hi} ({_ci(done[hi], '.0f', '%')} of completions above "
            f"threshold), lowest on {lo} ({_ci(done[lo], '.0f', '%')})."
        )
    if absent:
        notes = "; ".join(dict.fromkeys(_note(entries[s]) for s in absent))
        out.append(f"The profile was not computed for {', '.join(absent)} ({notes}).")
    return out


def model_findings(model: str, art: Artifacts) -> list[str]:
    """Sentences on one model: its responses and terms, its most frequent terms, its profile."""
    return [*_responses(model, art.metrics), *_top_terms(art), *_profile(art.metrics), *_scorer(art.metrics)]


def findings(result: Result) -> dict[str, list[str]]:
    """Plain-words sentences: ``"_all"`` first (when recorded), then every model."""
    out: dict[str, list[str]] = {}
    if ALL_MODELS in result.per_model:
        gated = result.below_gate(*(f"profile_{s}" for s in SUBDIMENSIONS))
        out[ALL_MODELS] = across_findings(result.per_model[ALL_MODELS], gated)
    for model in result.models:
        out[model] = model_findings(model, result.per_model[model])
    return out
