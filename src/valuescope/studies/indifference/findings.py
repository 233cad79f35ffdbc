"""What one model's ``indifference`` results say in plain words, diagnostic by diagnostic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from valuescope.studies.protocol import Artifacts

Metrics = Mapping[str, Mapping[str, Any]]
"""A model's summary metrics by name."""


def _num(m: Mapping[str, Any] | None, key: str = "estimate") -> float | None:
    value = None if m is None else m.get(key)
    return float(value) if isinstance(value, int | float) else None


def _ci(m: Mapping[str, Any] | None) -> str:
    est, lo, hi = (_num(m, k) for k in ("estimate", "ci_low", "ci_high"))
    if est is None:
        return "n/a"
    return f"{est:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "")


def _null(nulls: Mapping[str, Any], name: str) -> str:
    value = nulls.get(name)
    return f"shuffled labels {value:.2f}" if isinstance(value, int | float) else "no null recorded"


def _against(m: Mapping[str, Any] | None, controls: str) -> str:
    """ "beats <controls> (p = ...)", "does not beat ..." or "not computable against ... (reason)"."""
    if m is None:
        return f"has no comparison with {controls} recorded"
    p = _num(m, "p")
    if _num(m) is None or p is None:
        return f"is not computable against {controls} ({m.get('note', 'no reason recorded')})"
    verb = "beats" if p <= 0.05 else "does not beat"
    return f"{verb} {controls} (their median change {_ci(m)}, p = {p:.3f})"


def model_findings(art: Artifacts) -> list[str]:
    """Sentences on one model: the four diagnostics against the paper's pattern, the SAE, the repair
    against random edits, and the judged behaviour (or why it was not judged)."""
    m = art.metrics
    nulls = art.data.get("nulls", {}) if isinstance(art.data.get("nulls"), Mapping) else {}
    sentences = (
        _categorical(m, nulls),
        _gradient(m, nulls),
        _structural(m, nulls),
        _dimensional(m, nulls),
        _sparse_autoencoder(m),
        _repair(m),
        _behaviour(m),
    )
    return [s for s in sentences if s is not None]


def _categorical(m: Metrics, nulls: Mapping[str, Any]) -> str | None:
    """Whether virtue and vice prototypes collapse together, are partly separated or opposed."""
    cos = m.get("virtue_vice_cosine")
    if cos is None or _num(cos) is None:
        return None
    lo, hi = _num(cos, "ci_low"), _num(cos, "ci_high")
    if lo is not None and lo > 0.5:
        verdict = "the poles collapse together, the indifference the paper reports (cosine above 0.5)"
    elif hi is not None and hi < 0:
        verdict = "virtue and vice point in opposed directions: no categorical indifference"
    else:
        verdict = "virtue and vice are partly separated (neither opposed nor collapsed)"
    return (
        f"Categorical: at read point {cos.get('layer')} the neutral-centred virtue and vice prototypes "
        f"of each foundation have mean cosine {_ci(cos)} ({_null(nulls, 'virtue_vice_cosine')}): "
        f"{verdict}."
    )


def _gradient(m: Metrics, nulls: Mapping[str, Any]) -> str | None:
    """How well projections on the prototype axis follow human typicality, against the paper's ceiling."""
    typ = m.get("typicality_spearman")
    if _num(typ) is None:
        return None
    est = _num(typ) or 0.0
    level = "below the paper's 0.55 ceiling" if est < 0.55 else "above the paper's 0.55 ceiling"
    return (
        f"Gradient: items' projections on their held-out prototype axis follow human typicality with "
        f"Spearman {_ci(typ)} ({_null(nulls, 'typicality_spearman')}), {level}."
    )


def _structural(m: Metrics, nulls: Mapping[str, Any]) -> str | None:
    """How well k-means recovers valence and foundations."""
    val, fnd = m.get("ari_valence"), m.get("ari_foundation")
    if _num(val) is None or _num(fnd) is None:
        return None
    return (
        f"Structural: k-means recovers virtue / vice / neutral with ARI {_ci(val)} "
        f"({_null(nulls, 'ari_valence')}) and the five foundations with ARI {_ci(fnd)} "
        f"({_null(nulls, 'ari_foundation')}); the paper reports about 0.5 and below 0.15."
    )


def _dimensional(m: Metrics, nulls: Mapping[str, Any]) -> str | None:
    """How well a ridge probe predicts unseen lemmas' moral vectors."""
    r2 = m.get("probe_r2")
    if _num(r2) is None:
        return None
    return (
        f"Dimensional: a ridge probe predicts the 10-dimensional moral vectors of unseen lemmas with "
        f"R² {_ci(r2)} ({_null(nulls, 'probe_r2')}); the paper's best is about 0.26."
    )


def _sparse_autoencoder(m: Metrics) -> str | None:
    """The SAE's held-out fit, sparsity and number of moral features."""
    fve, n_feat = m.get("sae_fve"), m.get("n_moral_features")
    if fve is None or _num(fve) is None:
        return None
    return (
        f"Sparse autoencoder: it explains {100 * (_num(fve) or 0):.0f}% of held-out variance with "
        f"{_num(m.get('sae_l0')) or 0:.1f} active features per token, and {int(_num(n_feat) or 0)} of "
        "its features pass the moral selectivity threshold (" + str(fve.get("note", "")) + ")."
    )


def _repair(m: Metrics) -> str | None:
    """The repaired virtue-vice cosine against its two controls, and its damage; or why it was not fitted."""
    after = m.get("virtue_vice_cosine_after_repair")
    if after is not None and _num(after) is not None:
        random = _against(m.get("random_edit_virtue_vice_cosine"), "random-subspace edits of the same effect")
        refits = _against(m.get("permuted_target_virtue_vice_cosine"), "refits to permuted targets")
        return (
            f"Repair: after the geometric edit the virtue-vice cosine on half B is {_ci(after)} "
            f"({after.get('note', '')}); against its controls it {random}; it {refits}. "
            f"Its damage on neutral text: KL {_ci(m.get('repair_kl'))}."
        )
    if after is not None and after.get("note"):
        return f"Repair: not fitted ({after['note']})."
    return None


def _behaviour(m: Metrics) -> str | None:
    """The judged win rate of the repaired model's answers, or why nothing was judged."""
    win = m.get("judged_win_rate")
    if win is None:
        return None
    if _num(win) is None:
        return f"Behaviour: not judged; {win.get('note', '')}."
    return (
        f"Behaviour: a judge prefers the repaired model's answers to adversarial prompts in "
        f"{_ci(win)} of comparisons ({win.get('note', '')})."
    )
