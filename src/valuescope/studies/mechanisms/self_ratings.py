"""The ``self_ratings`` step of ``mechanisms``, and the questionnaire every steering edit is read on.

The model rates first-person statements (the package's, and ValueBench's PVQ40 when the data folder
has it) from 1 to 6; a rating is the expected option under the model's probabilities, reverse-keyed
statements flipped. Unsteered, the ratings give the model's value profile and the probability the model
puts on the six options; the ``steering`` step reads a balanced subset under every edit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.data.valuebench import VALUEBENCH_FILE, load_pvq40
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.instruments.self_rating import OPTIONS, SELF_RATING
from valuescope.readout.ratings import PreparedRating
from valuescope.stats.metrics import metric
from valuescope.studies.mechanisms import stimuli
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)


def questionnaire(ctx: UnitContext[MechanismsConfig], steering: bool = False) -> pd.DataFrame:
    """The statements rated: the package's (or the user's) and PVQ40 when available and asked for
    (``pvq40`` for the unsteered ratings, ``steer_pvq40`` also under every steering edit)."""
    cfg = ctx.config
    items = [stimuli.load_statements(str(ctx.data.use(cfg.statements)) if cfg.statements else None)]
    if steering:
        items[0] = balanced_subset(items[0], cfg.steer_statements)
    wanted = cfg.steer_pvq40 if steering else cfg.pvq40
    path = ctx.data.find(VALUEBENCH_FILE) if wanted else None
    if path is not None:
        items.append(load_pvq40(ctx.data.use(path)))
    out = pd.concat(items, ignore_index=True)
    out["prompt"] = [SELF_RATING.format(text=t.strip()) for t in out["text"]]
    return out


def balanced_subset(items: pd.DataFrame, per_value: int) -> pd.DataFrame:
    """The first ``per_value`` statements of each value, a third of them (rounded down) reverse-keyed
    where the file has enough, in file order."""
    keep = []
    for _, group in items.groupby("value", sort=False):
        n_rev = min(int(group["reverse"].sum()), per_value // 3)
        forward = group[~group["reverse"]].head(per_value - n_rev)
        keep.append(pd.concat([forward, group[group["reverse"]].head(per_value - len(forward))]))
    return pd.concat(keep).sort_index()


def prepared_rating(lm: Any, items: pd.DataFrame) -> PreparedRating:
    """The self-rating of ``items``, prepared to be read under many edits (``readout.ratings``; expected
    ratings only, no option mass)."""
    return PreparedRating(
        lm, list(items["prompt"]), OPTIONS, reverse=list(items["reverse"].astype(bool)), mass=False
    )


def expected_ratings(rating: PreparedRating) -> np.ndarray:
    """The expected rating of every statement under whatever edit is active."""
    return rating(progress=False)["expected"].to_numpy(dtype=np.float64)


def mean_of(x: np.ndarray, nan: bool = False) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic: the mean of ``x`` over the resampled rows (ignoring NaN with ``nan``)."""
    return lambda i: float(np.nanmean(x[i]) if nan else np.mean(x[i]))


def self_ratings_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    items = questionnaire(ctx)
    rated = ctx.lm.rate(
        list(items["prompt"]), OPTIONS, reverse=list(items["reverse"].astype(bool)), progress=ctx.progress
    )
    table = items.drop(columns=["prompt"]).assign(
        expected=rated["expected"].to_numpy(), mass=rated["mass"].to_numpy()
    )
    if "n_missing_options" in rated.columns:  # a served model shows only its top log-probabilities
        table["n_missing_options"] = rated["n_missing_options"].to_numpy()
    metrics: dict[str, dict[str, Any]] = {}
    for name, sub in table.groupby("questionnaire"):
        mass = sub["mass"].to_numpy()
        est, lo, hi = stats.bootstrap(mean_of(mass), len(mass), n_boot=500, seed=ctx.seed)
        metrics[f"self_rating_option_mass_{name}"] = metric(
            est, lo, hi, n=len(mass), note="probability that the answer is one of 1-6"
        )
    profile = table[table["questionnaire"] == "valuescope"].groupby("value")["expected"].mean()
    centred = (profile - profile.mean()).reindex(VALUES)
    return Artifacts(
        tables={"self_ratings": table, "self_rating_profile": centred.rename("centred_rating").reset_index()},
        metrics=metrics,
    )
