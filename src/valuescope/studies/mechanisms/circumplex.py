"""Step 8 of ``mechanisms``: does the geometry of the value vectors reproduce Schwartz's circle?

The 10 x 10 cosine matrix of value vectors at the chosen read point is compared (Spearman over its
45 off-diagonal entries) with the theoretical circle and with the inter-value correlations of
ValuePortrait's 569 human participants. The labeller alone could put neighbouring values close
(it labels the same responses for both), so the same pipeline runs with the residuals replaced by
Gaussian noise and by sentence embeddings of the responses; the model's fit is reported as its
excess over each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.data.valueportrait import VALUEPORTRAIT_HUMANS, human_value_correlations, load_human_pvq
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.stats.metrics import metric, missing
from valuescope.studies.mechanisms import analysis as mech
from valuescope.studies.mechanisms.circumplex_geometry import (
    circumplex_coordinates,
    circumplex_fit,
    circumplex_theory,
    offdiagonal,
)
from valuescope.studies.mechanisms.responses import config_of
from valuescope.studies.mechanisms.vectors import ResponseReadout, fit, read_responses
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)


def _matrix(x: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    v = fit(x, labels)
    return None if v is None else mech.cosine_matrix(v)


def _rho(m: np.ndarray | None, reference: np.ndarray) -> float:
    if m is None:
        return float("nan")
    a, b = offdiagonal(m), offdiagonal(reference)
    return float(pd.Series(a).corr(pd.Series(b), method="spearman"))


def _fit_of(x: np.ndarray, labels: np.ndarray, ref: np.ndarray) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic: the circumplex fit of vectors refit on the resampled rows."""
    return lambda i: _rho(_matrix(x[i], labels[i]), ref)


def circumplex_step(ctx: UnitContext) -> Artifacts:
    cfg = config_of(ctx)
    rp = int(ctx.previous["vectors"].data["read_point"])
    r: ResponseReadout = read_responses(ctx)
    x = r.x[:, rp]
    theory = circumplex_theory(len(VALUES))
    human: np.ndarray | None = None
    path = ctx.data.find(VALUEPORTRAIT_HUMANS)
    if path is not None:
        human = human_value_correlations(load_human_pvq(ctx.data.use(path))).to_numpy()

    responses = ctx.previous["responses"].tables["responses"]
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    emb = sentence_embeddings(list(responses["response"]))
    rng = np.random.default_rng(ctx.seed)
    noise = [rng.standard_normal(x.shape) for _ in range(cfg.n_noise)]
    spaces = {"residual": x, "embedding": emb}
    references = {"theory": theory} | ({"human": human} if human is not None else {})
    groups = r.queries
    kw: dict[str, Any] = {"groups": groups, "n_boot": cfg.n_boot, "seed": ctx.seed}
    metrics: dict[str, dict[str, Any]] = {}
    rows = []
    n_q = len(np.unique(groups))
    for ref_name, ref in references.items():
        model_m = _matrix(x, r.labels)
        assert model_m is not None
        rho, p = circumplex_fit(model_m, ref, n_perm=cfg.n_perm, seed=ctx.seed)
        _, lo, hi = stats.bootstrap(_fit_of(x, r.labels, ref), len(x), **kw)
        noise_rho = np.array([_rho(_matrix(z, r.labels), ref) for z in noise])
        emb_m = _matrix(emb, r.labels)
        emb_rho = _rho(emb_m, ref)

        def paired(i: np.ndarray, ref: np.ndarray = ref) -> float:
            return _rho(_matrix(x[i], r.labels[i]), ref) - _rho(_matrix(emb[i], r.labels[i]), ref)

        d_emb, d_lo, d_hi = stats.bootstrap(paired, len(x), **kw)
        noise_mean = float(noise_rho.mean())
        label = "the theoretical circle" if ref_name == "theory" else "the human inter-value correlations"
        metrics[f"circumplex_fit_{ref_name}"] = metric(
            rho,
            min(lo, rho),
            max(hi, rho),
            p=p,
            n=n_q,
            layer=rp,
            better="higher",
            note=f"Spearman of the value vectors' 45 cosines with {label}; p: value labels permuted; "
            f"Gaussian-noise residuals reach {noise_mean:.2f}, sentence embeddings {emb_rho:.2f}",
        )
        metrics[f"circumplex_fit_{ref_name}_excess_noise"] = metric(
            rho - noise_mean,
            min(lo, rho) - noise_mean,
            max(hi, rho) - noise_mean,
            n=n_q,
            layer=rp,
            better="higher",
            note=f"fit minus the mean fit of {cfg.n_noise} Gaussian-noise replicates (the labeller's "
            "own share)",
        )
        metrics[f"circumplex_fit_{ref_name}_excess_embedding"] = metric(
            d_emb,
            d_lo,
            d_hi,
            n=n_q,
            layer=rp,
            better="higher",
            note="fit minus the fit of the same pipeline on sentence embeddings of the responses (paired "
            "bootstrap over queries)",
        )
        for space, value in (("residual", rho), ("embedding", emb_rho), ("noise (mean)", noise_mean)):
            rows.append({"reference": ref_name, "space": space, "spearman": value})
        rows.append(
            {
                "reference": ref_name,
                "space": "noise (97.5th pct)",
                "spearman": float(np.quantile(noise_rho, 0.975)),
            }
        )
    if human is None:
        note = (
            f"needs ValuePortrait's human scores ({VALUEPORTRAIT_HUMANS} in the data folder; "
            "set VALUESCOPE_DATA or --data)"
        )
        for name in (
            "circumplex_fit_human",
            "circumplex_fit_human_excess_noise",
            "circumplex_fit_human_excess_embedding",
        ):
            metrics[name] = missing(note)
    else:
        h_rho, h_p = circumplex_fit(human, theory, n_perm=cfg.n_perm, seed=ctx.seed)
        rows.append(
            {"reference": "theory", "space": "human PVQ (ValuePortrait)", "spearman": h_rho, "p": h_p}
        )
    del spaces
    vectors = ctx.previous["vectors"].tensors
    kinds = {
        "pooled": vectors["pooled_vectors"][:, rp].double().numpy(),
        "intrinsic": vectors["intrinsic_vectors"][:, rp].double().numpy(),
        "prompted": vectors["prompted_vectors"][:, rp].double().numpy(),
        "shared_axis": vectors["shared_axes"].double().numpy(),
    }
    by_kind = []
    for kind, v in kinds.items():
        m = mech.cosine_matrix(v)
        entry = {"vectors": kind, "fit_theory": _rho(m, theory)}
        entry["fit_theory_p"] = circumplex_fit(m, theory, n_perm=cfg.n_perm, seed=ctx.seed)[1]
        if human is not None:
            entry["fit_human"] = _rho(m, human)
        by_kind.append(entry)
    long = []
    for a, va in enumerate(VALUES):
        for b, vb in enumerate(VALUES):
            row: dict[str, Any] = {"value_a": va, "value_b": vb, "theory": theory[a, b]}
            for kind, v in kinds.items():
                row[kind] = float(mech.cosine_matrix(v)[a, b])
            if human is not None:
                row["human"] = float(human[a, b])
            long.append(row)
    coords = circumplex_coordinates(mech.cosine_matrix(kinds["pooled"]))
    coord_rows = [
        {"source": "model", "value": v, "x": c[0], "y": c[1]} for v, c in zip(VALUES, coords, strict=True)
    ]
    if human is not None:
        hc = circumplex_coordinates(human)
        coord_rows += [
            {"source": "human", "value": v, "x": c[0], "y": c[1]} for v, c in zip(VALUES, hc, strict=True)
        ]
    return Artifacts(
        tables={
            "circumplex": pd.DataFrame(rows),
            "circumplex_by_vectors": pd.DataFrame(by_kind),
            "circumplex_matrix": pd.DataFrame(long),
            "circumplex_coordinates": pd.DataFrame(coord_rows),
        },
        metrics=metrics,
    )
