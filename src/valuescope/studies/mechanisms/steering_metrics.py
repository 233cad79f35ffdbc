"""The metrics and tables of ``mechanisms``'s steering step, from the self-rating changes it read.

The steering shift of an edit for value v is the change in the ratings of v's statements minus the mean
change of the other nine values' statements (``steering_effects.steering_shift``), averaged over the
steered values, with a CI over statements and a p against the control edits' shifts (``edit.controls``);
the neighbour response, the same shift on PVQ40's statements, the general rise under the orthogonalised
vectors, and the prompted minus intrinsic gap complete it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from valuescope import stats
from valuescope.data.valuebench import VALUEBENCH_FILE
from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.edit import controls as ctl
from valuescope.stats.metrics import metric, missing
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.self_ratings import mean_of
from valuescope.studies.mechanisms.steering_edits import VECTOR_KINDS
from valuescope.studies.mechanisms.steering_effects import neighbour_response, steering_shift, value_deltas

VALUES = list(SCHWARTZ_VALUES)


@dataclass(frozen=True)
class SteeringDesign:
    """What the steering metrics are computed over: the value each statement measures, the statement ids,
    which statements are the package's own (the rest are PVQ40's), the steered values (indices into
    ``VALUES``) and the read point."""

    cfg: MechanismsConfig
    item_values: np.ndarray
    ids: np.ndarray
    own: np.ndarray
    steered: list[int]
    read_point: int
    seed: int


@dataclass(frozen=True)
class SteeringControls:
    """The control edits read, by kind: random directions at equal alpha and at matched damage, random
    neurons; and the description of the value vectors' controls."""

    equal: list[str]
    matched: list[str]
    neurons: list[str]
    described: str

    @property
    def kinds(self) -> list[str]:
        """Every control kind read."""
        return self.equal + self.matched + self.neurons

    def members(self, kind: str) -> list[str]:
        """The edits whose damage a kind reports: its control draws for a mean of controls, else itself."""
        return {"random": self.equal, "random_matched": self.matched, "random_neurons": self.neurons}.get(
            kind, [kind]
        )


# ------------------------------------------------------------------------------------------- shifts


def _shifts(delta: np.ndarray, item_values: np.ndarray, steered: list[int]) -> np.ndarray:
    """Per steered value: its steering shift from its row of ``delta`` (steered values, items)."""
    return np.array([steering_shift(delta[r], item_values, VALUES[v]) for r, v in enumerate(steered)])


def _shift_of(
    delta: np.ndarray, item_values: np.ndarray, steered: list[int]
) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic over statements: the mean steering shift over the steered values."""
    return lambda i: float(np.mean(_shifts(delta[:, i], item_values[i], steered)))


def _neighbour_responses(delta: np.ndarray, design: SteeringDesign) -> np.ndarray:
    """Per steered value: the neighbour response of the package's statements' changes."""
    own = design.own
    return np.array(
        [
            neighbour_response(value_deltas(delta[r, own], design.item_values[own], VALUES), v)
            for r, v in enumerate(design.steered)
        ]
    )


def _pvq_shift(delta: np.ndarray, item_values: np.ndarray, rows: np.ndarray, value: str) -> float | None:
    if not rows.any():
        return None
    return float(steering_shift(delta[rows], item_values[rows], value))


def per_value_rows(kind: str, delta: np.ndarray, design: SteeringDesign) -> list[dict[str, Any]]:
    """One row per steered value: its shift, neighbour response and shift on PVQ40's statements."""
    own, item_values = design.own, design.item_values
    per_value = _shifts(delta[:, own], item_values[own], design.steered)
    neighbour = _neighbour_responses(delta, design)
    return [
        {
            "kind": kind,
            "value": VALUES[v],
            "shift": per_value[r],
            "neighbour_r": neighbour[r],
            "pvq40_shift": _pvq_shift(delta[r], item_values, ~own, VALUES[v]),
        }
        for r, v in enumerate(design.steered)
    ]


# ------------------------------------------------------------------------------------------ metrics


def vector_controls_described(cfg: MechanismsConfig, matched: bool) -> str:
    return f"{cfg.n_random} random direction(s) per value drawn from the residual covariance " + (
        "with alpha matched to the same damage" if matched else "at the same alpha (not matched on damage)"
    )


def _controls_of(
    kind: str, deltas: dict[str, np.ndarray], controls: SteeringControls, design: SteeringDesign
) -> tuple[list[np.ndarray] | None, str]:
    """The control draws a kind of edit is tested against (their changes on the package's statements)
    and their description; None for a kind without controls."""
    own = design.own
    if kind in VECTOR_KINDS:
        return [deltas[k][:, own] for k in (controls.matched or controls.equal)], controls.described
    if kind == "neurons":
        described = f"{design.cfg.n_random} draw(s) of as many random neurons per block, scaled the same"
        return [deltas[k][:, own] for k in controls.neurons], described
    return None, ""


def _shift_note(kind: str, kl: pd.DataFrame, design: SteeringDesign) -> str:
    """What a steering shift measures, the damage of its edits, and how they were made."""
    cfg, steered = design.cfg, design.steered
    note = (
        f"self-rating change of the steered value minus the mean change of the other nine (package "
        f"statements, 1-6 scale); median KL {kl['kl'].median():.3f} on {cfg.damage_texts} neutral texts"
    )
    if len(steered) < len(VALUES):
        note += f"; {len(steered)} of the ten values steered ({', '.join(VALUES[v] for v in steered)})"
    if kind in VECTOR_KINDS:
        unmet = int((~kl["matched"].astype(bool)).sum())
        note += f"; alpha {cfg.alpha_rule}" + (
            f" (target KL {cfg.target_kl:g}" + (f", unmet for {unmet} values)" if unmet else ")")
            if cfg.alpha_rule == "matched_kl"
            else ""
        )
    elif kind == "neurons":
        note += f"; value neurons scaled x{cfg.neuron_scale:g}"
    elif kind == "random":
        note += (
            f"; {cfg.n_random} random direction(s) per value, drawn from the residual covariance, at the "
            "alpha of that value's prompted vector "
            "(a random direction at equal norm is far more damaging: see the KL)"
        )
    elif kind == "random_matched":
        note += f"; {cfg.n_random} random direction(s) per value with alpha matched to the same damage"
    elif kind == "random_neurons":
        note += f"; as many random neurons per block as the value has, scaled x{cfg.neuron_scale:g}"
    return note


def _shift_metric(
    delta: np.ndarray, controls: list[np.ndarray] | None, described: str, note: str, design: SteeringDesign
) -> dict[str, Any]:
    """Mean over values of the steering shift on the package's statements (``delta`` holds their
    changes); CI over statements (stratified by value); p: the shift against each control draw's shift
    (``edit.controls``; ``controls`` holds one delta matrix per draw)."""
    item_values, ids, steered = design.item_values[design.own], design.ids[design.own], design.steered
    est, lo, hi = stats.bootstrap(
        _shift_of(delta, item_values, steered),
        len(ids),
        groups=ids,
        strata=item_values,
        n_boot=design.cfg.n_boot,
        seed=design.seed,
    )
    p = None
    if controls is not None:
        against = ctl.against_controls(
            float(np.mean(_shifts(delta, item_values, steered))),
            [float(np.mean(_shifts(c, item_values, steered))) for c in controls],
            better="higher",
            controls=described,
        )
        p = against.p
        note += f"; against {described}: {against.verdict()}" + (
            f" ({against.summary.describe()})" if against.summary is not None else ""
        )
    return metric(est, lo, hi, p=p, n=len(ids), layer=design.read_point, better="higher", note=note)


def kind_metrics(
    kind: str,
    delta: np.ndarray,
    deltas: dict[str, np.ndarray],
    kl: pd.DataFrame,
    controls: SteeringControls,
    design: SteeringDesign,
) -> dict[str, dict[str, Any]]:
    """The steering shift of one kind of edit against its controls (``kl``: the damage of its edits) and,
    for the intrinsic and prompted vectors and the shared axes, the neighbour response."""
    compare, described = _controls_of(kind, deltas, controls, design)
    note = _shift_note(kind, kl, design)
    metrics = {
        f"steering_shift_{kind}": _shift_metric(delta[:, design.own], compare, described, note, design)
    }
    if kind in ("intrinsic", "prompted", "shared"):
        n = len(design.steered)
        neighbour = _neighbour_responses(delta, design)
        est, lo, hi = stats.bootstrap(
            mean_of(neighbour, nan=True), n, n_boot=design.cfg.n_boot, seed=design.seed
        )
        metrics[f"steering_neighbour_response_{kind}"] = metric(
            est,
            lo,
            hi,
            n=n,
            layer=design.read_point,
            better="higher",
            note="Pearson r, over the nine other values, between their self-rating change and "
            "their closeness "
            "on the circle to the steered value (positive: neighbours rise, opposites fall); CI "
            "over values",
        )
    return metrics


def pvq40_metrics(deltas: dict[str, np.ndarray], design: SteeringDesign) -> dict[str, dict[str, Any]]:
    """The shift of the intrinsic and prompted vectors on PVQ40's statements, or why it is missing."""
    cfg, pvq = design.cfg, ~design.own
    kinds = ("intrinsic", "prompted")
    if not pvq.any():
        why = (
            "PVQ40 was not read under steering: set steer_pvq40 (on in the full profile)"
            if not cfg.steer_pvq40
            else f"needs {VALUEBENCH_FILE} in the data folder"
        )
        return {f"steering_shift_{kind}_pvq40": missing(why) for kind in kinds}
    metrics: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        est, lo, hi = stats.bootstrap(
            _shift_of(deltas[kind][:, pvq], design.item_values[pvq], design.steered),
            int(pvq.sum()),
            groups=design.ids[pvq],
            strata=design.item_values[pvq],
            n_boot=cfg.n_boot,
            seed=design.seed,
        )
        metrics[f"steering_shift_{kind}_pvq40"] = metric(
            est,
            lo,
            hi,
            n=int(pvq.sum()),
            layer=design.read_point,
            better="higher",
            note="the same shift on ValueBench's PVQ40 items (a second questionnaire, not used "
            "to choose alpha)",
        )
    return metrics


def general_metrics(deltas: dict[str, np.ndarray], design: SteeringDesign) -> dict[str, dict[str, Any]]:
    """The mean rating change over every statement under the orthogonalised vectors: compliance rather
    than a value."""
    own = design.own
    metrics: dict[str, dict[str, Any]] = {}
    for kind in ("intrinsic_only", "prompted_only"):
        mean_delta = deltas[kind][:, own].mean(axis=0)
        est, lo, hi = stats.bootstrap(
            mean_of(mean_delta),
            len(mean_delta),
            groups=design.ids[own],
            strata=design.item_values[own],
            n_boot=design.cfg.n_boot,
            seed=design.seed,
        )
        metrics[f"steering_general_{kind}"] = metric(
            est,
            lo,
            hi,
            n=len(mean_delta),
            layer=design.read_point,
            note="mean rating change over every statement (all ten values), averaged over the "
            f"{len(design.steered)} steered values: a rise of everything is compliance rather than a value",
        )
    return metrics


def prompted_minus_intrinsic(deltas: dict[str, np.ndarray], design: SteeringDesign) -> dict[str, Any]:
    """The prompted vectors' shift minus the intrinsic vectors', paired over the steered values."""
    own, item_values = design.own, design.item_values
    gap = _shifts(deltas["prompted"][:, own], item_values[own], design.steered) - _shifts(
        deltas["intrinsic"][:, own], item_values[own], design.steered
    )
    diff = stats.paired_difference(
        gap, np.zeros_like(gap), n_boot=design.cfg.n_boot, n_perm=design.cfg.n_perm, seed=design.seed
    )
    return diff.as_metric(
        layer=design.read_point,
        note="paired over values; the reference paper finds prompted vectors steer more strongly",
    )


def delta_table(deltas: dict[str, np.ndarray], design: SteeringDesign) -> pd.DataFrame:
    """Every statement's rating change under every kind of edit, per steered value."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "kind": kind,
                    "steered_value": VALUES[v],
                    "statement_id": design.ids,
                    "item_value": design.item_values,
                    "delta": delta[r],
                }
            )
            for kind, delta in deltas.items()
            for r, v in enumerate(design.steered)
        ],
        ignore_index=True,
    )
