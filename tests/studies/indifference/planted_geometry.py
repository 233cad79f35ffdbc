"""Planted moral geometries whose diagnostic answers are known, shared by the indifference tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from valuescope.data.moral_items import FOUNDATIONS, POLES, VECTOR_COLUMNS
from valuescope.studies.indifference.diagnostic_settings import DiagnosticSettings

D = 64
SCALE, NOISE, COMMON = 3.0, 0.1, 30.0
N_CELL_LEMMAS, N_NEUTRAL_LEMMAS, PER_LEMMA = 12, 60, 2
QUICK = DiagnosticSettings(n_init=4)


def planted_items(
    seed: int = 0, *, n_cell: int = N_CELL_LEMMAS, n_neutral: int = N_NEUTRAL_LEMMAS
) -> pd.DataFrame:
    """n_cell lemmas per (foundation, pole) and n_neutral neutral lemmas, PER_LEMMA items each.

    A moral lemma's typicality is uniform in [0.2, 1] and is also its score in its own vector column.
    """
    rng = np.random.default_rng(seed)
    records = []

    def add(lemma: str, kind: str, foundation: str, typicality: float) -> None:
        for _ in range(PER_LEMMA):
            row = {"lemma": lemma, "kind": kind, "foundation": foundation, "typicality": typicality}
            row.update(dict.fromkeys(VECTOR_COLUMNS, 0.0))
            if kind != "neutral":
                row[f"{foundation}_{kind}"] = typicality
            records.append(row)

    for f in FOUNDATIONS:
        for p in POLES:
            for j in range(n_cell):
                add(f"{f}-{p}-{j}", p, f, float(rng.uniform(0.2, 1.0)))
    for j in range(n_neutral):
        add(f"neutral-{j}", "neutral", "", 0.0)
    return pd.DataFrame(records)


def directions(rng: np.random.Generator) -> dict[str, np.ndarray]:
    q, _ = np.linalg.qr(rng.standard_normal((D, 18)))
    q = q.T
    return {
        "virtue": q[0],
        "vice_mirror": -q[0],
        "vice_orth": q[1],
        "foundation": q[2:7],
        "cell": q[7:17],
        "common": COMMON * q[17],
    }


def planted_positions(
    items: pd.DataFrame,
    dirs: dict[str, np.ndarray],
    valence: float,
    foundation: float,
    cell: float,
    mirror: bool,
) -> np.ndarray:
    """(n, D) noise-free planted position of every item (neutral at 0, no common component)."""
    out = np.zeros((len(items), D))
    vice = dirs["vice_mirror"] if mirror else dirs["vice_orth"]
    typicality = items.typicality.to_numpy(dtype=float)
    for i, (kind, found) in enumerate(zip(items.kind, items.foundation, strict=True)):
        if kind == "neutral":
            continue
        fi, pi = FOUNDATIONS.index(found), POLES.index(kind)
        pole = dirs["virtue"] if kind == "virtue" else vice
        cell_dir = dirs["cell"][len(POLES) * fi + pi]
        out[i] = SCALE * (
            valence * pole + foundation * dirs["foundation"][fi] + typicality[i] * cell * cell_dir
        )
    return out


def geometry(
    items: pd.DataFrame,
    seed: int = 1,
    *,
    valence: float = 1.0,
    foundation: float = 0.3,
    cell: float = 1.0,
    mirror: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(X, planted): x = planted + common component + small noise.

    planted = SCALE * (valence * pole direction + foundation * foundation direction + typicality * cell *
    (foundation, pole) direction); the vice direction is minus the virtue one (``mirror``) or orthogonal.
    """
    rng = np.random.default_rng(seed)
    dirs = directions(rng)
    planted = planted_positions(items, dirs, valence, foundation, cell, mirror)
    return planted + dirs["common"] + NOISE * rng.standard_normal(planted.shape), planted


def collapsed(items: pd.DataFrame, seed: int = 5) -> np.ndarray:
    """Labels independent of X: Gaussian noise plus a common component."""
    return np.random.default_rng(seed).standard_normal((len(items), D)) + COMMON


def planted_cosines(items: pd.DataFrame, planted: np.ndarray) -> np.ndarray:
    out = []
    for f in FOUNDATIONS:
        v = planted[((items.foundation == f) & (items.kind == "virtue")).to_numpy()].mean(axis=0)
        c = planted[((items.foundation == f) & (items.kind == "vice")).to_numpy()].mean(axis=0)
        out.append(v @ c / np.linalg.norm(v) / np.linalg.norm(c))
    return np.array(out)


def memorisation_data(seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Every lemma its own random direction r and typicality t; both items of a lemma sit at t * r.

    Only an item's twin in the training fold says anything about its typicality.
    """
    items = planted_items(seed, n_cell=20)
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(items.lemma)
    t = rng.uniform(0.05, 1.0, codes.max() + 1)[codes]
    moral = (items.kind != "neutral").to_numpy()
    items["typicality"] = np.where(moral, t, 0.0)
    r = (rng.standard_normal((codes.max() + 1, 200)) / np.sqrt(200))[codes]
    return items, np.where(moral[:, None], t[:, None] * r, 0.05 * r)
