"""The ``elicit`` step of ``lexicon``: sampled answers to the elicitation prompts, parsed into value terms."""

from __future__ import annotations

from typing import Any

import pandas as pd

from valuescope.stats.metrics import metric
from valuescope.studies.lexicon import stimuli, terms
from valuescope.studies.lexicon.config import LexiconConfig
from valuescope.studies.protocol import Artifacts, UnitContext

ANCHORS_PATH = "anchors"
"""Data key: the user's anchors file, recorded (with its hash, in the run's manifest) by this model's
elicitation unit, so that the cross-model comparison that reads it is accounted for."""


def data_path(ctx: UnitContext[LexiconConfig], value: str | None) -> str | None:
    """A config file option resolved through the run's data folder (None stays None)."""
    return None if value is None else str(ctx.data.use(value))


def elicit_step(ctx: UnitContext[LexiconConfig]) -> Artifacts:
    """``samples`` answers to every elicitation prompt. Instruction-tuned models get the question through
    their chat template (after the ``system`` message); base models continue the first-person framing
    after :data:`~.stimuli.LIST_PRIMER`, and their answer is the first line (or list)
    of the continuation (:func:`~.stimuli.answer_span`); a chat model's whole reply is
    its answer, since lists often follow an introductory line. Terms that only repeat the prompt's words
    are dropped ("echo")."""
    cfg, lm = ctx.config, ctx.lm
    prompts = stimuli.load_elicitation(data_path(ctx, cfg.elicitation))
    if cfg.n_prompts is not None:
        prompts = prompts.head(cfg.n_prompts)
    instruct = bool(getattr(lm, "instruct", True))
    rows = sampled_prompts(prompts, instruct, cfg.samples)
    asked = [r[2] for r in rows]
    system: dict[str, Any] = {"system": cfg.system} if instruct and cfg.system else {}
    raw = lm.generate(
        asked,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=ctx.seed,
        progress=ctx.progress,
        **system,
    )
    answers = [t.strip() if instruct else stimuli.answer_span(t) for t in raw]
    found = terms.extract_terms(answers, asked)
    report = terms.filter_report(answers, asked)
    table = responses_table(rows, answers, "chat" if instruct else "completion", found)
    counts = term_counts(found)
    empty = int((table["n_terms"] == 0).sum())
    metrics = {
        "n_responses": metric(len(table), n=len(prompts)),
        "n_model_terms": metric(
            len(counts), n=len(table), note=f"{empty} of {len(table)} responses gave no value term"
        ),
    }
    return Artifacts(
        tables={"responses": table, "terms": found, "term_counts": counts, "filter_report": report},
        generations={"elicitation": generation_records(rows, raw, answers, system)},
        metrics=metrics,
        data={ANCHORS_PATH: data_path(ctx, cfg.anchors)} if cfg.anchors else {},
    )


def sampled_prompts(prompts: pd.DataFrame, instruct: bool, samples: int) -> list[tuple[str, int, str]]:
    """(prompt id, sample, text sent) for every sample of every prompt: the question itself for a chat
    model, the primed first-person framing for a base model."""
    texts = [
        str(p) if instruct else stimuli.base_prompt(str(c))
        for p, c in zip(prompts["prompt"], prompts["completion"], strict=True)
    ]
    return [
        (str(pid), s, text)
        for pid, text in zip(prompts["prompt_id"], texts, strict=True)
        for s in range(samples)
    ]


def responses_table(
    rows: list[tuple[str, int, str]], answers: list[str], framing: str, found: pd.DataFrame
) -> pd.DataFrame:
    """One row per answer: prompt id, sample, framing, the answer and how many value terms it gave."""
    table = pd.DataFrame(
        {
            "prompt_id": [r[0] for r in rows],
            "sample": [r[1] for r in rows],
            "framing": framing,
            "response": answers,
        }
    )
    per_response = found.groupby("response").size().reindex(range(len(table)), fill_value=0)
    table["n_terms"] = per_response.to_numpy()
    return table


def term_counts(found: pd.DataFrame) -> pd.DataFrame:
    """Per term: how often it was named and in how many responses, most widespread first."""
    counts = found.groupby("term").agg(count=("response", "size"), responses=("response", "nunique"))
    return counts.sort_values(["responses", "count"], ascending=False).reset_index()


def generation_records(
    rows: list[tuple[str, int, str]], raw: list[str], answers: list[str], system: dict[str, Any]
) -> list[dict[str, Any]]:
    """The generations as recorded in the run: prompt, raw continuation, answer (and the system message
    when one was sent)."""
    return [
        {"prompt_id": str(r[0]), "sample": int(r[1]), "prompt": r[2], "generated": g, "response": a, **system}
        for r, g, a in zip(rows, raw, answers, strict=True)
    ]
