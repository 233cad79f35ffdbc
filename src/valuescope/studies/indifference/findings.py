"""What one model's ``indifference`` results say in plain words, diagnostic by diagnostic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from valuescope.studies.protocol import Artifacts


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
    out: list[str] = []
    cos = m.get("virtue_vice_cosine")
    if cos is not None and _num(cos) is not None:
        lo, hi = _num(cos, "ci_low"), _num(cos, "ci_high")
        if lo is not None and lo > 0.5:
            verdict = "the poles collapse together, the indifference the paper reports (cosine above 0.5)"
        elif hi is not None and hi < 0:
            verdict = "virtue and vice point in opposed directions: no categorical indifference"
        else:
            verdict = "virtue and vice are partly separated (neither opposed nor collapsed)"
        out.append(
            f"Categorical: at read point {cos.get('layer')} the neutral-centred virtue and vice prototypes "
            f"of each foundation have mean cosine {_ci(cos)} ({_null(nulls, 'virtue_vice_cosine')}): "
            f"{verdict}."
        )
    typ = m.get("typicality_spearman")
    if _num(typ) is not None:
        est = _num(typ) or 0.0
        level = "below the paper's 0.55 ceiling" if est < 0.55 else "above the paper's 0.55 ceiling"
        out.append(
            f"Gradient: items' projections on their held-out prototype axis follow human typicality with "
            f"Spearman {_ci(typ)} ({_null(nulls, 'typicality_spearman')}), {level}."
        )
    val, fnd = m.get("ari_valence"), m.get("ari_foundation")
    if _num(val) is not None and _num(fnd) is not None:
        out.append(
            f"Structural: k-means recovers virtue / vice / neutral with ARI {_ci(val)} "
            f"({_null(nulls, 'ari_valence')}) and the five foundations with ARI {_ci(fnd)} "
            f"({_null(nulls, 'ari_foundation')}); the paper reports about 0.5 and below 0.15."
        )
    r2 = m.get("probe_r2")
    if _num(r2) is not None:
        out.append(
            f"Dimensional: a ridge probe predicts the 10-dimensional moral vectors of unseen lemmas with "
            f"R² {_ci(r2)} ({_null(nulls, 'probe_r2')}); the paper's best is about 0.26."
        )
    fve, n_feat = m.get("sae_fve"), m.get("n_moral_features")
    if fve is not None and _num(fve) is not None:
        out.append(
            f"Sparse autoencoder: it explains {100 * (_num(fve) or 0):.0f}% of held-out variance with "
            f"{_num(m.get('sae_l0')) or 0:.1f} active features per token, and {int(_num(n_feat) or 0)} of "
            "its features pass the moral selectivity threshold (" + str(fve.get("note", "")) + ")."
        )
    after = m.get("virtue_vice_cosine_after_repair")
    kl = m.get("repair_kl")
    if after is not None and _num(after) is not None:
        random = _against(m.get("random_edit_virtue_vice_cosine"), "random-subspace edits of the same effect")
        refits = _against(m.get("permuted_target_virtue_vice_cosine"), "refits to permuted targets")
        out.append(
            f"Repair: after the geometric edit the virtue-vice cosine on half B is {_ci(after)} "
            f"({after.get('note', '')}); against its controls it {random}; it {refits}. "
            f"Its damage on neutral text: KL {_ci(kl)}."
        )
    elif after is not None and after.get("note"):
        out.append(f"Repair: not fitted ({after['note']}).")
    win = m.get("judged_win_rate")
    if win is not None:
        if _num(win) is None:
            out.append(f"Behaviour: not judged; {win.get('note', '')}.")
        else:
            out.append(
                f"Behaviour: a judge prefers the repaired model's answers to adversarial prompts in "
                f"{_ci(win)} of comparisons ({win.get('note', '')})."
            )
    return out
