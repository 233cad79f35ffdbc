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
from dataclasses import dataclass
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
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.outputs import (
    INTRINSIC_VECTORS,
    POOLED_VECTORS,
    PROMPTED_VECTORS,
    READ_POINT,
    RESPONSES,
    SHARED_AXES,
)
from valuescope.studies.mechanisms.vectors import ResponseReadout, fit, read_responses
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
HUMAN_METRICS = (
    "circumplex_fit_human",
    "circumplex_fit_human_excess_noise",
    "circumplex_fit_human_excess_embedding",
)
"""The metrics that need ValuePortrait's human scores."""


def circumplex_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    """Fit the value vectors' cosines to the theoretical circle and to human value correlations, each net
    of the same pipeline on noise and on sentence embeddings; then the fit of every kind of vector, the
    cosine matrices and the values' MDS coordinates."""
    cfg = ctx.config
    rp = ctx.read(READ_POINT)
    r = read_responses(ctx)
    x = r.x[:, rp]
    theory = circumplex_theory(len(VALUES))
    human = _human_correlations(ctx)
    spaces = BaselineSpaces(_response_embeddings(ctx), _noise_residuals(x, cfg.n_noise, ctx.seed))
    references = {"theory": theory} | ({"human": human} if human is not None else {})
    n_q = len(np.unique(r.queries))
    metrics: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for name, reference in references.items():
        fitted = _baselined_fit(r, x, spaces, reference, cfg, ctx.seed)
        metrics |= _fit_metrics(name, fitted, cfg.n_noise, n_q, rp)
        rows += _fit_rows(name, fitted)
    if human is None:
        metrics |= _human_fit_missing()
    else:
        rows.append(_human_fit_row(human, theory, cfg.n_perm, ctx.seed))
    kinds = _vectors_by_kind(ctx, rp)
    return Artifacts(
        tables={
            "circumplex": pd.DataFrame(rows),
            "circumplex_by_vectors": _fit_by_kind(kinds, theory, human, cfg.n_perm, ctx.seed),
            "circumplex_matrix": _matrix_table(kinds, theory, human),
            "circumplex_coordinates": _coordinate_table(kinds["pooled"], human),
        },
        metrics=metrics,
    )


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


# ------------------------------------------------------------------------------------ inputs


def _human_correlations(ctx: UnitContext[MechanismsConfig]) -> np.ndarray | None:
    """ValuePortrait's human inter-value correlations (10, 10), or None without its data file."""
    path = ctx.data.find(VALUEPORTRAIT_HUMANS)
    if path is None:
        return None
    return human_value_correlations(load_human_pvq(ctx.data.use(path))).to_numpy()


def _response_embeddings(ctx: UnitContext[MechanismsConfig]) -> np.ndarray:
    """Sentence embeddings of every response (the labeller's baseline without the model)."""
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    return sentence_embeddings(list(ctx.read(RESPONSES)["response"]))


def _noise_residuals(x: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` replicates of Gaussian noise shaped like the residuals ``x`` (the labeller's own share)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(x.shape) for _ in range(n)]


@dataclass(frozen=True)
class BaselineSpaces:
    """What the value-vector pipeline also runs on in place of the residuals: sentence embeddings of the
    responses, and Gaussian-noise replicates."""

    embedding: np.ndarray
    noise: list[np.ndarray]


# ------------------------------------------------------------------------- fit against baselines


@dataclass(frozen=True)
class BaselinedFit:
    """The circumplex fit of the residual vectors against one reference (Spearman, permutation p, bootstrap
    CI over queries), the fits of the noise replicates and of the embeddings, and the paired bootstrap of
    the residual-minus-embedding fit."""

    rho: float
    p: float
    low: float
    high: float
    noise: np.ndarray
    embedding: float
    excess_embedding: tuple[float, float, float]

    @property
    def noise_mean(self) -> float:
        return float(self.noise.mean())


def _baselined_fit(
    r: ResponseReadout,
    x: np.ndarray,
    spaces: BaselineSpaces,
    reference: np.ndarray,
    cfg: MechanismsConfig,
    seed: int,
) -> BaselinedFit:
    """``BaselinedFit`` of the residuals ``x`` (rows of ``r``) against ``reference``."""
    emb, labels = spaces.embedding, r.labels
    kw: dict[str, Any] = {"groups": r.queries, "n_boot": cfg.n_boot, "seed": seed}
    model_m = _matrix(x, labels)
    assert model_m is not None
    rho, p = circumplex_fit(model_m, reference, n_perm=cfg.n_perm, seed=seed)
    _, lo, hi = stats.bootstrap(_fit_of(x, labels, reference), len(x), **kw)
    noise = np.array([_rho(_matrix(z, labels), reference) for z in spaces.noise])
    emb_rho = _rho(_matrix(emb, labels), reference)

    def paired(i: np.ndarray) -> float:
        return _rho(_matrix(x[i], labels[i]), reference) - _rho(_matrix(emb[i], labels[i]), reference)

    excess = stats.bootstrap(paired, len(x), **kw)
    return BaselinedFit(rho, p, lo, hi, noise, emb_rho, excess)


def _fit_metrics(name: str, f: BaselinedFit, n_noise: int, n_q: int, rp: int) -> dict[str, dict[str, Any]]:
    """The fit against reference ``name`` and its excess over the noise and the embedding baselines."""
    label = "the theoretical circle" if name == "theory" else "the human inter-value correlations"
    lo, hi, noise = min(f.low, f.rho), max(f.high, f.rho), f.noise_mean
    return {
        f"circumplex_fit_{name}": metric(
            f.rho, lo, hi, p=f.p, n=n_q, layer=rp, better="higher",
            note=f"Spearman of the value vectors' 45 cosines with {label}; p: value labels permuted; "
            f"Gaussian-noise residuals reach {noise:.2f}, sentence embeddings {f.embedding:.2f}",
        ),
        f"circumplex_fit_{name}_excess_noise": metric(
            f.rho - noise, lo - noise, hi - noise, n=n_q, layer=rp, better="higher",
            note=f"fit minus the mean fit of {n_noise} Gaussian-noise replicates (the labeller's own share)",
        ),
        f"circumplex_fit_{name}_excess_embedding": metric(
            *f.excess_embedding, n=n_q, layer=rp, better="higher",
            note="fit minus the fit of the same pipeline on sentence embeddings of the responses (paired "
            "bootstrap over queries)",
        ),
    }  # fmt: skip


def _fit_rows(name: str, f: BaselinedFit) -> list[dict[str, Any]]:
    """Rows of the ``circumplex`` table: the fit of each space against reference ``name``."""
    spaces = (("residual", f.rho), ("embedding", f.embedding), ("noise (mean)", f.noise_mean))
    return [{"reference": name, "space": space, "spearman": value} for space, value in spaces] + [
        {"reference": name, "space": "noise (97.5th pct)", "spearman": float(np.quantile(f.noise, 0.975))}
    ]


def _human_fit_missing() -> dict[str, dict[str, Any]]:
    """The human-reference metrics as missing, with what they need."""
    note = (
        f"needs ValuePortrait's human scores ({VALUEPORTRAIT_HUMANS} in the data folder; "
        "set VALUESCOPE_DATA or --data)"
    )
    return {name: missing(note) for name in HUMAN_METRICS}


def _human_fit_row(human: np.ndarray, theory: np.ndarray, n_perm: int, seed: int) -> dict[str, Any]:
    """The row of the ``circumplex`` table with the human correlations' own fit to the circle."""
    rho, p = circumplex_fit(human, theory, n_perm=n_perm, seed=seed)
    return {"reference": "theory", "space": "human PVQ (ValuePortrait)", "spearman": rho, "p": p}


# ------------------------------------------------------------------------------ kinds of vector


def _vectors_by_kind(ctx: UnitContext[MechanismsConfig], rp: int) -> dict[str, np.ndarray]:
    """The ``vectors`` step's pooled, intrinsic and prompted vectors at read point ``rp`` and shared axes."""
    return {
        "pooled": ctx.read(POOLED_VECTORS)[:, rp].double().numpy(),
        "intrinsic": ctx.read(INTRINSIC_VECTORS)[:, rp].double().numpy(),
        "prompted": ctx.read(PROMPTED_VECTORS)[:, rp].double().numpy(),
        "shared_axis": ctx.read(SHARED_AXES).double().numpy(),
    }


def _fit_by_kind(
    kinds: dict[str, np.ndarray], theory: np.ndarray, human: np.ndarray | None, n_perm: int, seed: int
) -> pd.DataFrame:
    """Per kind of vector: its circumplex fit to the theory (with p) and to the human correlations."""
    rows = []
    for kind, v in kinds.items():
        m = mech.cosine_matrix(v)
        entry = {"vectors": kind, "fit_theory": _rho(m, theory)}
        entry["fit_theory_p"] = circumplex_fit(m, theory, n_perm=n_perm, seed=seed)[1]
        if human is not None:
            entry["fit_human"] = _rho(m, human)
        rows.append(entry)
    return pd.DataFrame(rows)


def _matrix_table(kinds: dict[str, np.ndarray], theory: np.ndarray, human: np.ndarray | None) -> pd.DataFrame:
    """Long table per pair of values: the theory's, each kind of vector's and the humans' similarity."""
    matrices = {kind: mech.cosine_matrix(v) for kind, v in kinds.items()}
    rows = []
    for a, va in enumerate(VALUES):
        for b, vb in enumerate(VALUES):
            row: dict[str, Any] = {"value_a": va, "value_b": vb, "theory": theory[a, b]}
            for kind, m in matrices.items():
                row[kind] = float(m[a, b])
            if human is not None:
                row["human"] = float(human[a, b])
            rows.append(row)
    return pd.DataFrame(rows)


def _coordinate_table(pooled: np.ndarray, human: np.ndarray | None) -> pd.DataFrame:
    """The values' MDS coordinates from the pooled vectors' cosines and from the human correlations."""
    sources = {"model": mech.cosine_matrix(pooled)} | ({"human": human} if human is not None else {})
    return pd.DataFrame(
        [
            {"source": source, "value": v, "x": c[0], "y": c[1]}
            for source, m in sources.items()
            for v, c in zip(VALUES, circumplex_coordinates(m), strict=True)
        ]
    )
