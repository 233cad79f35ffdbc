"""The ``steering`` step of ``mechanisms``: steer with each kind of value vector (and scale value neurons)
at matched damage, and read the shift in the model's self-ratings.

Method: for each steered value (``steer_values`` of the ten, spread round the circle) and each kind of
vector, alpha follows the config's rule (fixed, or matched to a target KL on neutral text), and the
statements of ``self_ratings`` are rated under the edit (``steering_edits``). Controls: random
directions drawn from the residual covariance, at the alpha of the value's prompted vector and, with
``random_matched``, at matched damage; after the ``neurons`` step, as many random neurons per block as
the value has, scaled alike. The steering shift of an edit for value v is the change in the ratings of
v's statements minus the mean change of the other nine values' statements, tested against the controls;
the neighbour response asks whether the values near v on the circle rise with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from valuescope.data.values import SCHWARTZ_VALUES
from valuescope.readout.damage import DamageMeter
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.outputs import ALPHAS, READ_POINT, STEERED_VALUES, VALUE_NEURONS
from valuescope.studies.mechanisms.self_ratings import expected_ratings, prepared_rating, questionnaire
from valuescope.studies.mechanisms.steering_edits import (
    EditReadings,
    edit_count,
    read_random_directions,
    read_value_neurons,
    read_value_vectors,
    steered_values,
    steering_edits,
    steering_vectors,
)
from valuescope.studies.mechanisms.steering_metrics import (
    SteeringControls,
    SteeringDesign,
    delta_table,
    general_metrics,
    kind_metrics,
    per_value_rows,
    prompted_minus_intrinsic,
    pvq40_metrics,
    vector_controls_described,
)
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)


def steering_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    from valuescope.data.reference import reference_texts

    cfg = ctx.config
    lm = ctx.local
    rp = ctx.read(READ_POINT)
    items = questionnaire(ctx, steering=True)
    rating = prepared_rating(lm, items)
    base = expected_ratings(rating)  # unedited, in the same batches as every edited reading (and recorded)
    design = SteeringDesign(
        cfg=cfg,
        item_values=items["value"].to_numpy(),
        ids=items["statement_id"].astype(str).to_numpy(),
        own=(items["questionnaire"] == "valuescope").to_numpy(),
        steered=steered_values(cfg.steer_values),
        read_point=rp,
        seed=ctx.seed,
    )
    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts])
    vectors = steering_vectors(ctx)
    rng = np.random.default_rng(ctx.seed)
    codes = ctx.read(VALUE_NEURONS).numpy() if ctx.has(VALUE_NEURONS) else None
    n_edits = edit_count(cfg, len(design.steered), codes is not None)
    bar = tqdm(total=n_edits, desc="steering", unit="edit", disable=not ctx.progress, leave=False)
    readings = EditReadings(rating, base, design.steered, bar)

    steer = steering_edits(lm, rp)
    alphas = read_value_vectors(readings, steer, vectors, meter, cfg)
    reference = lm.reference_tokens(rp)
    equal, matched = read_random_directions(readings, steer, reference, alphas["prompted"], meter, cfg, rng)
    neurons = read_value_neurons(readings, lm, codes, meter, cfg, rng) if codes is not None else []
    bar.close()

    controls = SteeringControls(equal, matched, neurons, vector_controls_described(cfg, bool(matched)))
    damage = pd.DataFrame(readings.damage_rows)
    metrics: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for kind, delta in readings.deltas.items():
        if kind not in controls.kinds:
            kl = damage[damage["kind"].isin(controls.members(kind))]
            metrics |= kind_metrics(kind, delta, readings.deltas, kl, controls, design)
            rows += per_value_rows(kind, delta, design)
    metrics |= pvq40_metrics(readings.deltas, design)
    metrics |= general_metrics(readings.deltas, design)
    metrics["steering_shift_prompted_minus_intrinsic"] = prompted_minus_intrinsic(readings.deltas, design)
    return Artifacts(
        tables={
            "steering": pd.DataFrame(rows),
            "steering_damage": damage,
            "steering_deltas": delta_table(readings.deltas, design),
        },
        metrics=metrics,
        data={ALPHAS.name: alphas, STEERED_VALUES.name: [VALUES[v] for v in design.steered]},
    )
