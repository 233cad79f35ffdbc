"""Steps 1-2 of ``mechanisms``: answers to everyday queries with and without a value framing, and
which values each answer expresses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from valuescope.data.queries import load_queries
from valuescope.data.valueportrait import VALUEPORTRAIT_RESPONSES, load_valueportrait_responses
from valuescope.data.values import SCHWARTZ_VALUES, canonical_value
from valuescope.instruments import value_labels
from valuescope.stats.metrics import metric, missing
from valuescope.studies.mechanisms import stimuli
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.metrics import LABELLER
from valuescope.studies.mechanisms.outputs import LABELLED_BY, LABELLER_INSTRUMENT, LABELS, RESPONSES
from valuescope.studies.protocol import Artifacts, UnitContext

CONDITIONS = ("intrinsic", "prompted")
STOP = ["\nQuestion:", "\n\n\n"]
GIVEN_LABELS = [f"label_{v}" for v in SCHWARTZ_VALUES]
"""The columns of a corpus that brings its own labels."""


def render(lm: Any, query: str, framing: str | None) -> str:
    """The prompt text for ``query`` as the model reads it: a chat model gets the chat template
    (``framing`` as the system message), a base model ``Question: ...\\nAnswer:`` after ``framing``
    as a preface. Without BOS when the tokenizer adds it itself, so ``tokenizer(text)`` has it once."""
    if not lm.instruct:
        head = f"{framing.strip()}\n\n" if framing else ""
        return f"{head}Question: {query.strip()}\nAnswer:"
    tokenizer = lm.tokenizer
    messages = [{"role": "system", "content": framing}] if framing else []
    messages.append({"role": "user", "content": query.strip()})
    text = str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    bos = tokenizer.bos_token
    ids = tokenizer("a")["input_ids"]
    if bos and ids and ids[0] == tokenizer.bos_token_id and text.startswith(bos):
        text = text[len(bos) :]
    return text


def _served_chat_answers(lm: Any, table: pd.DataFrame, seed: int, sampling: dict[str, Any]) -> list[str]:
    """Answers of a served chat model, which applies its own chat template: the queries of each framing
    go in one call with that framing as the system message (none for the intrinsic condition)."""
    texts = [""] * len(table)
    groups = table.groupby("framing", sort=False).indices
    for g, (framing, rows) in enumerate(groups.items()):
        queries = [str(q).strip() for q in table["query"].iloc[rows]]
        system = framing or None
        answers = lm.generate(queries, seed=seed + g * len(table), chat=True, system=system, **sampling)
        for i, answer in zip(rows, answers, strict=True):
            texts[i] = answer
    return texts


def load_corpus(path: str) -> pd.DataFrame:
    """A user's responses: ``query_id,query,condition,response`` and optional 0/1 value columns."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ("query_id", "query", "condition", "response")
    absent = [c for c in need if c not in frame.columns]
    if absent:
        raise ValueError(f"{path}: corpus lacks column(s) {', '.join(absent)}; it needs {', '.join(need)}")
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        if row.condition not in CONDITIONS:
            raise ValueError(
                f"{path}: row {i}, column 'condition': {row.condition!r}; use 'intrinsic' or 'prompted'"
            )
        if not str(row.response).strip():
            raise ValueError(f"{path}: row {i}, column 'response' is empty; drop the row or give it text")
    labelled = {}
    for column in frame.columns:
        if column in need or column in ("framed_value", "sample"):
            continue
        value = canonical_value(column, source=f"{path} column {column!r}")
        cells = frame[column].str.strip().str.lower()
        bad = ~cells.isin(["0", "1", "true", "false"])
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise ValueError(f"{path}: row {line}, column {column!r}: labels must be 0/1 or true/false")
        labelled[value] = cells.isin(["1", "true"]).to_numpy()
    if labelled and set(labelled) != set(SCHWARTZ_VALUES):
        absent_values = ", ".join(v for v in SCHWARTZ_VALUES if v not in labelled)
        raise ValueError(
            f"{path}: label columns cover some values but not {absent_values}; give all ten or none"
        )
    out = frame[list(need)].copy()
    out["framed_value"] = frame["framed_value"] if "framed_value" in frame.columns else ""
    for value, flags in labelled.items():
        out[f"label_{value}"] = flags
    return out


def _generate(ctx: UnitContext[MechanismsConfig]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    cfg = ctx.config
    lm = ctx.lm
    queries = load_queries(str(ctx.data.use(cfg.queries)) if cfg.queries else None).head(cfg.n_queries)
    framings = stimuli.load_framings(str(ctx.data.use(cfg.framings)) if cfg.framings else None)
    style = "system" if lm.instruct else "preface"
    rows = []
    for i, q in enumerate(queries.itertuples(index=False)):
        for s in range(cfg.intrinsic_samples):
            rows.append(
                {
                    "query_id": q.query_id,
                    "query": q.query,
                    "condition": "intrinsic",
                    "framed_value": "",
                    "paraphrase": -1,
                    "sample": s,
                    "framing": "",
                }
            )
        for t in range(cfg.framings_per_query):
            j = (i + t) % len(SCHWARTZ_VALUES)
            value = SCHWARTZ_VALUES[j]
            options = framings[(framings["value"] == value) & (framings["style"] == style)]
            pick = options.iloc[(i // len(SCHWARTZ_VALUES) + j) % len(options)]
            rows.append(
                {
                    "query_id": q.query_id,
                    "query": q.query,
                    "condition": "prompted",
                    "framed_value": value,
                    "paraphrase": int(pick["paraphrase"]),
                    "sample": 0,
                    "framing": str(pick["text"]),
                }
            )
    table = pd.DataFrame(rows)
    sampling: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "stop": None if lm.instruct else STOP,
        "progress": ctx.progress,
    }
    if lm.instruct and not hasattr(lm, "tokenizer"):
        texts = _served_chat_answers(lm, table, ctx.seed, sampling)
    else:
        prompts = [render(lm, q, f) for q, f in zip(table["query"], table["framing"], strict=True)]
        texts = lm.generate(prompts, seed=ctx.seed, chat=False, **sampling)
    table["response"] = [t.strip() for t in texts]
    records = [
        {str(k): (v or None) if k == "framing" else v for k, v in row.items()}
        for row in table.to_dict("records")
    ]
    return table.drop(columns=["framing"]), records


def responses_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    cfg = ctx.config
    if cfg.corpus:
        table = load_corpus(str(ctx.data.use(cfg.corpus)))
        generations: list[dict[str, Any]] = []
    else:
        table, generations = _generate(ctx)
    empty = table["response"].str.strip() == ""
    kept = table[~empty].reset_index(drop=True)
    counts = kept.groupby("condition").size()
    for condition in CONDITIONS:
        if counts.get(condition, 0) < 2 * cfg.min_positive:
            raise ValueError(
                f"mechanisms: only {counts.get(condition, 0)} non-empty {condition} responses; need at least "
                f"{2 * cfg.min_positive} (2 x min_positive): raise n_queries or max_new_tokens"
            )
    metrics = {
        "n_responses": metric(len(kept), n=len(kept), note=f"{int(empty.sum())} empty responses dropped"),
    }
    return Artifacts(tables={RESPONSES.name: kept}, generations={"responses": generations}, metrics=metrics)


def labeller_instrument(config: MechanismsConfig, labeller: str | None) -> str | None:
    """The validity-table name of the instrument behind ``labeller`` (a ``labeller`` config value; None:
    the corpus's own labels, no instrument): only the shipped head labeller is ``value-labeller``."""
    if labeller is None:
        return None
    if labeller == "head":
        return LABELLER if config.labeller_heads is None else f"{LABELLER} ({config.labeller_heads})"
    judge = f" {config.judge_model or 'the model under study'}" if labeller == "judge" else ""
    return f"{LABELLER} ({labeller}{judge})"


def labeller_for(ctx: UnitContext[MechanismsConfig]) -> value_labels.ValueLabeller:
    cfg = ctx.config
    labeller: value_labels.ValueLabeller
    if cfg.labeller == "embedding":
        labeller = value_labels.EmbeddingLabeller()
    elif cfg.labeller == "head" and cfg.labeller_heads is not None:
        from valuescope.instruments.heads import load_heads

        head = load_heads(Path(cfg.labeller_heads), "touche23")
        labeller = value_labels.HeadLabeller(head=head, instrument=str(labeller_instrument(cfg, "head")))
    elif cfg.labeller == "head":
        labeller = value_labels.HeadLabeller()
    else:
        judge = ctx.lm if cfg.judge_model is None else ctx.other_model(cfg.judge_model)
        labeller = value_labels.JudgeLabeller(judge)
    if cfg.label_threshold is not None:
        labeller.threshold = cfg.label_threshold
    return labeller


def labels_step(ctx: UnitContext[MechanismsConfig]) -> Artifacts:
    """Label every response with the values it expresses (the corpus's own labels, or the labeller's
    scores thresholded per condition); count the positives per condition and value; check that a framing
    raises its value's label, and the labeller against ValuePortrait's human-validated tags."""
    cfg = ctx.config
    responses = ctx.read(RESPONSES)
    labeller = labeller_for(ctx)
    given = all(c in responses.columns for c in GIVEN_LABELS)
    labelled = _given_labels(responses) if given else _labeller_labels(responses, labeller, cfg.min_positive)
    counts = _label_counts(responses, labelled)
    metrics = {
        "n_label_fallbacks": _fallback_metric(counts, labelled.source, cfg.min_positive),
        "framing_label_lift": _framing_lift(responses, labelled.labels, counts, ctx.seed, cfg.n_boot),
    }
    tables = {LABELS.name: _label_table(responses, labelled), "label_counts": counts}
    agreement, per_value = _labeller_agreement(ctx, labeller)
    metrics["labeller_agreement"] = agreement
    if per_value is not None:
        tables["labeller_agreement"] = per_value
    labelled_by = None if given else cfg.labeller
    data = {LABELLED_BY.name: labelled_by, LABELLER_INSTRUMENT.name: labeller_instrument(cfg, labelled_by)}
    return Artifacts(tables=tables, metrics=metrics, data=data)


@dataclass(frozen=True)
class ResponseLabels:
    """Scores (n, 10) and binary labels (n, 10) of every response, where they came from, and per condition
    and value whether the fallback chose the positives."""

    scores: np.ndarray
    labels: np.ndarray
    source: str
    fallbacks: dict[str, dict[str, bool]]


def _given_labels(responses: pd.DataFrame) -> ResponseLabels:
    """The corpus's own labels, checked to give every value positive and negative responses in each
    condition."""
    labels = responses[GIVEN_LABELS].to_numpy(dtype=bool)
    for condition in CONDITIONS:
        rows = (responses["condition"] == condition).to_numpy()
        for j, value in enumerate(SCHWARTZ_VALUES):
            k = int(labels[rows, j].sum())
            if k == 0 or k == rows.sum():
                raise ValueError(
                    f"mechanisms corpus: no {'positive' if k == 0 else 'negative'} {condition} responses "
                    f"for {value}; every value needs both in each condition"
                )
    fallback = dict.fromkeys(SCHWARTZ_VALUES, False)
    return ResponseLabels(
        labels.astype(np.float64), labels, "the corpus's own labels", {c: fallback for c in CONDITIONS}
    )


def _labeller_labels(
    responses: pd.DataFrame, labeller: value_labels.ValueLabeller, min_positive: int
) -> ResponseLabels:
    """The labeller's scores, thresholded per condition with at least ``min_positive`` positives."""
    scores = labeller.scores(list(responses["query"]), list(responses["response"]))
    labels = np.zeros_like(scores, dtype=bool)
    fallbacks = {}
    for condition in CONDITIONS:
        rows = (responses["condition"] == condition).to_numpy()
        got = value_labels.binary_labels(scores[rows], labeller.threshold, min_positive)
        labels[rows] = got.labels
        fallbacks[condition] = got.fallback
    return ResponseLabels(scores, labels, labeller.name, fallbacks)


def _label_table(responses: pd.DataFrame, labelled: ResponseLabels) -> pd.DataFrame:
    """Per response: its query, condition and framed value, and its score and label for every value."""
    table = responses[["query_id", "condition", "framed_value"]].copy()
    for j, value in enumerate(SCHWARTZ_VALUES):
        table[f"score_{value}"] = labelled.scores[:, j]
        table[f"label_{value}"] = labelled.labels[:, j]
    return table


def _label_counts(responses: pd.DataFrame, labelled: ResponseLabels) -> pd.DataFrame:
    """Per condition and value: responses, positives, whether the fallback chose them, and the positive
    rate of responses framed with the value and of the others."""
    labels, counts = labelled.labels, []
    for condition in CONDITIONS:
        rows = (responses["condition"] == condition).to_numpy()
        for j, value in enumerate(SCHWARTZ_VALUES):
            framed = rows & (responses["framed_value"] == value).to_numpy()
            counts.append(
                {
                    "condition": condition,
                    "value": value,
                    "n_responses": int(rows.sum()),
                    "n_positive": int(labels[rows, j].sum()),
                    "fallback": bool(labelled.fallbacks[condition][value]),
                    "positive_rate_when_framed": float(labels[framed, j].mean()) if framed.any() else None,
                    "positive_rate_otherwise": float(labels[rows & ~framed, j].mean()),
                }
            )
    return pd.DataFrame(counts)


def _fallback_metric(counts: pd.DataFrame, source: str, min_positive: int) -> dict[str, Any]:
    """How many value x condition cells took their positives from the fallback."""
    return metric(
        int(counts["fallback"].sum()),
        n=len(counts),
        note=f"labels from {source}; value x condition cells whose positives are their "
        f"{min_positive} highest-scoring responses because fewer reached the threshold",
    )


def _labeller_agreement(
    ctx: UnitContext[MechanismsConfig], labeller: value_labels.ValueLabeller
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """The labeller's AUROC against ValuePortrait's human-validated tags, and per value (missing without
    ValuePortrait)."""
    cfg = ctx.config
    path = ctx.data.find(VALUEPORTRAIT_RESPONSES)
    if path is None:
        note = (
            f"needs ValuePortrait ({VALUEPORTRAIT_RESPONSES} in the data folder; set VALUESCOPE_DATA "
            "or --data)"
        )
        return missing(note), None
    portrait = load_valueportrait_responses(ctx.data.use(path))
    portrait_scores = labeller.scores(list(portrait["query"]), list(portrait["response"]))
    est, per_value = value_labels.valueportrait_agreement(
        portrait_scores, portrait, n_boot=cfg.n_boot, seed=ctx.seed
    )
    agreement = est.as_metric(
        better="higher",
        note=f"{labeller.name}: AUROC of its scores for ValuePortrait's top vs bottom quartile of each "
        "value's human-validated correlation, mean over values (CI over queries; p: scores shuffled "
        "within each query)",
    )
    return agreement, per_value


def _framing_lift(
    responses: pd.DataFrame, labels: np.ndarray, counts: pd.DataFrame, seed: int, n_boot: int
) -> dict[str, Any]:
    """Mean over values of P(label v | framed with v) - P(label v | framed otherwise), CI over queries."""
    from valuescope import stats

    prompted = counts[counts["condition"] == "prompted"]
    lift = (prompted["positive_rate_when_framed"] - prompted["positive_rate_otherwise"]).to_numpy(dtype=float)
    rows = np.flatnonzero((responses["condition"] == "prompted").to_numpy())
    framed = responses["framed_value"].to_numpy()[rows]
    lab = labels[rows]
    groups = responses["query_id"].to_numpy()[rows]

    def stat(idx: np.ndarray) -> float:
        out = []
        for j, value in enumerate(SCHWARTZ_VALUES):
            on = framed[idx] == value
            if on.any() and (~on).any():
                out.append(lab[idx][on, j].mean() - lab[idx][~on, j].mean())
        return float(np.mean(out)) if out else float("nan")

    est, lo, hi = stats.bootstrap(stat, len(rows), groups=groups, n_boot=n_boot, seed=seed)
    return metric(
        est,
        lo,
        hi,
        n=len(np.unique(groups)),
        better="higher",
        note="how much more often a prompted response is labelled with the value it was told to prioritise "
        f"than with other framings (per value: {', '.join(f'{x:.2f}' for x in lift)}); a manipulation check "
        "of the framings and the labeller together",
    )
