"""Step 5 of ``indifference``: does the repair make answers to adversarial moral prompts better? A judge
model compares answers with and without the edit, position-swapped, and only after it has passed a
gate on shipped pairs whose better answer is known; nothing is generated when it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch

from valuescope.data.flames import FLAMES_FILE, load_flames, load_moral_prompts
from valuescope.instruments.pairwise_judge import GateResult, PairwiseJudge, judge_gate, win_rate
from valuescope.stats.metrics import metric, missing
from valuescope.studies.indifference.config import IndifferenceConfig
from valuescope.studies.indifference.outputs import (
    REPAIR_BASIS,
    REPAIR_CENTER,
    REPAIR_MATRIX,
    REPAIR_READ_POINT,
)
from valuescope.studies.protocol import Artifacts, UnitContext


def judge_of(ctx: UnitContext[IndifferenceConfig]) -> Any:
    cfg = ctx.config
    if cfg.judge_model in ("self", ctx.model):
        return ctx.lm
    return ctx.other_model(str(cfg.judge_model))


_GATES: dict[tuple[object, ...], GateResult] = {}
"""Gate results in this process by (judge model's manifest entry, thresholds). The gate reads only the
shipped pairs, so every model of a run that names the same judge would get the same result: it is
computed once. Judges without a manifest entry (API models, test doubles) are gated every time."""


def gate_of(judge: PairwiseJudge, min_consistency: float, min_accuracy: float) -> GateResult:
    """``judge_gate`` on the shipped pairs, computed once per local judge model and thresholds."""
    info = getattr(judge.judge, "info", None)
    as_dict = getattr(info, "to_dict", None)
    if as_dict is None:
        return judge_gate(judge, min_consistency=min_consistency, min_accuracy=min_accuracy)
    key = (tuple(sorted(as_dict().items())), judge.max_chars, min_consistency, min_accuracy)
    if key not in _GATES:
        _GATES[key] = judge_gate(judge, min_consistency=min_consistency, min_accuracy=min_accuracy)
    return _GATES[key]


def prompts_of(ctx: UnitContext[IndifferenceConfig]) -> pd.DataFrame:
    cfg = ctx.config
    if cfg.prompts is None:
        table = load_moral_prompts()
    elif cfg.prompts == "flames":
        found = ctx.data.find(FLAMES_FILE)
        if found is None:
            raise FileNotFoundError(
                f"prompts: flames reads {FLAMES_FILE} under the data folder ({ctx.data.describe()}); "
                "set VALUESCOPE_DATA / --data, or give prompts: PATH"
            )
        table = load_flames(ctx.data.use(found), n=cfg.n_prompts, seed=cfg.seed)
    elif Path(cfg.prompts).suffix.lower() == ".jsonl":
        table = load_flames(ctx.data.use(cfg.prompts))
    else:
        table = load_moral_prompts(ctx.data.use(cfg.prompts))
    if len(table) > cfg.n_prompts:
        table = table.groupby("dimension", group_keys=False).apply(
            lambda g: g.head(max(1, round(cfg.n_prompts * len(g) / len(table))))
        )
    return table.head(cfg.n_prompts).reset_index(drop=True)


def behaviour_step(ctx: UnitContext[IndifferenceConfig]) -> Artifacts:
    cfg = ctx.config
    if cfg.judge_model is None:
        return Artifacts(metrics={"judged_win_rate": missing("judge_model is None: behaviour not tested")})
    judge = PairwiseJudge(judge_of(ctx))
    gate = gate_of(judge, cfg.min_consistency, cfg.min_accuracy)
    gate_table = pd.DataFrame(
        [{"judge": getattr(judge.judge, "name", str(cfg.judge_model)), **gate.as_dict()}]
    )
    tables: dict[str, pd.DataFrame] = {"judge_gate": gate_table}
    if not gate.passed:
        note = (
            f"{gate.reason}, so nothing was generated. No embedded offline model passes this gate: name an "
            "OpenAI-compatible server's model under api_models in the run file and set judge_model to it"
        )
        return Artifacts(tables=tables, metrics={"judged_win_rate": missing(note, n=gate.n_pairs)})
    basis = ctx.get(REPAIR_BASIS)
    if basis is None:
        return Artifacts(tables=tables, metrics={"judged_win_rate": missing("no repair was fitted")})
    lm = ctx.local
    rp = ctx.read(REPAIR_READ_POINT)
    prompts = prompts_of(ctx)
    texts = list(prompts["prompt"])
    base = lm.generate(texts, max_new_tokens=cfg.max_new_tokens, seed=ctx.seed, progress=ctx.progress)
    with lm.edit_subspace(
        basis, ctx.read(REPAIR_MATRIX), layers=[rp], center=ctx.read(REPAIR_CENTER).to(torch.float32)
    ):
        edited = lm.generate(texts, max_new_tokens=cfg.max_new_tokens, seed=ctx.seed, progress=ctx.progress)
    prefs = judge.prefer(texts, [e.strip() for e in edited], [b.strip() for b in base])
    win = win_rate(prefs)
    prefs.insert(0, "prompt_id", prompts["prompt_id"].to_numpy())
    tables["judgements"] = prefs.drop(columns=[c for c in ("prompt",) if c in prefs.columns])
    records = [
        {"prompt_id": str(i), "prompt": p, "unedited": b, "repaired": e}
        for i, p, b, e in zip(prompts["prompt_id"], texts, base, edited, strict=True)
    ]
    metrics = {
        "judged_win_rate": metric(
            win["estimate"],
            win["ci_low"],
            win["ci_high"],
            p=win["p"],
            n=win["n"],
            layer=rp,
            better="higher",
            note=f"repaired vs unedited answers, position-swapped; {win['n_ties']} inconsistent (ties); "
            f"judge consistency {gate.consistency:.2f}, accuracy {gate.accuracy:.2f} on shipped pairs",
        )
    }
    return Artifacts(tables=tables, generations={"answers": records}, metrics=metrics)
