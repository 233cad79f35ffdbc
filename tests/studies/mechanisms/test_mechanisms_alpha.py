"""Matching a steering vector's strength to a damage budget, on a meter whose KL is known: c * alpha^2."""

from __future__ import annotations

import math
from typing import Any

import pytest

from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.steering_edits import match_alpha, next_start


class QuadraticMeter:
    """KL = c * alpha^2 for the edit ``make(alpha)`` returns (here: alpha itself); counts its calls."""

    def __init__(self, c: float) -> None:
        self.c, self.calls = c, 0

    def __call__(self, alpha: Any) -> dict[str, float]:
        self.calls += 1
        return {"kl_mean": self.c * float(alpha) ** 2}


def _identity(alpha: float) -> float:
    return alpha


def test_the_quadratic_rule_lands_in_one_correction() -> None:
    cfg = MechanismsConfig(target_kl=0.5, kl_tolerance=0.1, alpha=1.0)
    meter = QuadraticMeter(c=8.0)  # KL(1) = 8: sixteen times the target
    alpha, d, matched = match_alpha(_identity, meter, cfg, start=1.0)  # type: ignore[arg-type]
    assert matched and math.isclose(alpha, 0.25) and math.isclose(d["kl_mean"], 0.5)
    assert meter.calls == 2


def test_the_next_vector_starts_at_the_target() -> None:
    cfg = MechanismsConfig(target_kl=0.5, kl_tolerance=0.5)
    assert math.isclose(next_start(2.0, {"kl_mean": 1.0}, cfg), 2.0 / math.sqrt(2.0))
    assert next_start(2.0, {"kl_mean": 0.0}, cfg) == 2.0  # nothing measured: keep the alpha
    assert next_start(10.0, {"kl_mean": 1e-4}, cfg) == cfg.alpha_max
    # a vector as sensitive as the previous one is matched by its first probe
    meter = QuadraticMeter(c=0.9)
    start = next_start(1.0, {"kl_mean": 0.9}, cfg)
    _, _, matched = match_alpha(_identity, meter, cfg, start)  # type: ignore[arg-type]
    assert matched and meter.calls == 1


def test_an_unreachable_budget_returns_the_closest_try_unmatched() -> None:
    cfg = MechanismsConfig(target_kl=0.5, kl_tolerance=0.1, alpha_max=2.0)
    meter = QuadraticMeter(c=0.01)  # at most KL 0.04 within alpha_max
    alpha, d, matched = match_alpha(_identity, meter, cfg, start=1.0)  # type: ignore[arg-type]
    assert not matched and alpha == pytest.approx(2.0) and d["kl_mean"] == pytest.approx(0.04)
