"""``entanglement``: does moral good leak into grammatical and economic judgments, and does ablating
the moral direction repair it? After Cho, Li & Leshinskaya (2026).

Per model: Likert ratings of matched stimuli (moral x grammar, moral x economic) under three
instructions in paraphrases and reversed scales; entanglement indices (Cohen's d of morally good vs bad
items on the non-moral rating, within each non-moral level) against the human norm, also adjusted for
the items' log-probability; discriminations of the intended contrasts; the same contrasts in a
sentence-embedding model and along the residual stream (direction cosines against a null of random
directions drawn from the items' covariance,
cross-domain probe transfer as AUROC); and a repair: ablate one moral direction at every read point
and compare with random directions of matched projected variance, with the edit's damage.
Every resampling and split is grouped by frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from valuescope.analysis import entanglement as em
from valuescope.analysis import stats
from valuescope.edit import controls as ctl
from valuescope.readout.damage import DamageMeter
from valuescope.stimuli import entanglement as stimuli
from valuescope.studies.metrics import metric
from valuescope.studies.protocol import Artifacts, Result, Step, Study, StudyConfig, UnitContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OPTIONS = [str(i) for i in range(1, 8)]
HUMAN_NOTE = "; model index minus the human index (human_ratings)"
DOMAINS = ("grammar", "economic")
LEVEL = {"grammar": ("version", "grammatical"), "economic": ("version", "good_deal")}
"""Non-moral level column and its positive value, per domain."""

# Instruction templates: {scale} is filled with the anchors, normal or reversed.
INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "grammar": (
        "How grammatical is the following sentence? Answer from 1 to 7, where {scale}.\n"
        "Sentence: {text}\nAnswer:",
        "Is the sentence below correct, well-formed English? Rate it from 1 to 7, where {scale}.\n"
        "Sentence: {text}\nRating:",
        "Judge only the grammar of this sentence, from 1 to 7, where {scale}.\n{text}\nGrammar rating:",
    ),
    "economic": (
        "How good a deal is this, in purely economic terms? Answer from 1 to 7, where {scale}.\n"
        "Situation: {text}\nAnswer:",
        "Considering only money and value for money, rate this transaction from 1 to 7, where {scale}.\n"
        "Situation: {text}\nRating:",
        "Judge only the financial value of this deal, from 1 to 7, where {scale}.\n{text}\nDeal rating:",
    ),
    "moral": (
        "How morally good is what happens in the following text? Answer from 1 to 7, where {scale}.\n"
        "Text: {text}\nAnswer:",
        "Rate the ethics of the behaviour described below from 1 to 7, where {scale}.\nText: {text}\nRating:",
        "Judge only how morally right this is, from 1 to 7, where {scale}.\n{text}\nMoral rating:",
    ),
}
ANCHORS = {
    "grammar": ("completely ungrammatical", "perfectly grammatical"),
    "economic": ("a very bad deal", "a very good deal"),
    "moral": ("very immoral", "very moral"),
}


def prompt(kind: str, paraphrase: int, reversed_scale: bool, text: str) -> str:
    """One rating prompt; a reversed scale puts the positive anchor at 1 (``rate(reverse=...)`` undoes it)."""
    low, high = ANCHORS[kind]
    if reversed_scale:
        low, high = high, low
    scale = f"1 means {low} and 7 means {high}"
    return INSTRUCTIONS[kind][paraphrase].format(scale=scale, text=text)


class EntanglementConfig(StudyConfig):
    n_frames: int = 8
    """Frames used per domain (the first n of each stimulus file; every frame holds 4 base items)."""
    paraphrases: int = 2
    """Instruction paraphrases per kind of rating (1-3), each on the normal scale."""
    reversed_paraphrases: int = 1
    """How many of those paraphrases are also asked with the scale reversed."""
    repair_read_point: Literal["middle", "best"] | int = "best"
    """Where the moral direction is read: the middle read point, the best one for separating the
    moral-only items (cross-validated), or a fixed read point."""
    moral_direction: Literal["quiet", "mean_difference"] = "quiet"
    """How the moral direction is fit: ``quiet`` weighs the good-bad mean difference by the inverse
    covariance of the neutral reference text at that read point (the direction that carries the
    contrast while moving ordinary text least; see ``analysis.entanglement.quiet_direction``), or
    the plain ``mean_difference`` (in Gemma it points along massive-activation dimensions)."""
    shrinkage: float = 0.1
    """Ridge for the ``quiet`` direction, as a fraction of the mean reference variance."""
    ablation_center: Literal["reference", "zero"] = "reference"
    """Set the ablated component to its mean on the reference text (mean ablation) or to 0."""
    keep_special: bool = True
    """Leave special-token positions (BOS, chat markers) unedited."""
    n_random: int = 19
    """Random directions (matched projected variance) ablated as the repair's control."""
    random_match: Literal["reference", "items"] = "reference"
    """Where the random directions' projected variance matches the moral direction's: on the neutral
    reference text's tokens at that read point (so that a random edit is as large, and about as damaging,
    as the repair), or on the moral-only items inside the rating template."""
    n_random_damage: int = 3
    """How many of the random directions also get their damage measured (KL on neutral text)."""
    damage_texts: Annotated[int, Field(ge=2, le=80)] = 16
    """Neutral reference sentences every edit's damage is measured on (the first n of the package's 80;
    the unedited pass is computed once for all of them)."""
    ablate_sublayers: bool = False
    """Also project the direction out of every attention and MLP output (very damaging in Gemma)."""
    n_boot: int = 1000
    n_perm: int = 1000
    n_null: int = 1000
    """Random direction pairs for the cosine null."""
    grammar_stimuli: str | None = None
    """User CSV of the moral x grammar schema (see valuescope.stimuli.entanglement)."""
    economic_stimuli: str | None = None
    moral_stimuli: str | None = None
    human_ratings: str | None = None
    """Optional CSV: item_id and mean human ratings per kind of good (grammatical, economic, moral)."""
    min_n_per_cell: int = 8

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {
        # quick is CI's smoke test of every unit, not a finding: the fewest frames and resamples that
        # still give every metric (its notes say the cells are small); the demo keeps the defaults.
        "quick": {
            "n_frames": 2,
            "paraphrases": 2,
            "n_random": 3,
            "n_random_damage": 1,
            "damage_texts": 4,
            "n_boot": 100,
            "n_perm": 100,
            "n_null": 100,
            "min_n_per_cell": 4,
        },
        "full": {
            "n_frames": 1000,
            "paraphrases": 3,
            "reversed_paraphrases": 3,
            "n_random": 49,
            "n_random_damage": 10,
            "damage_texts": 80,
            "n_boot": 2000,
            "n_perm": 2000,
        },
    }


def _config(ctx: UnitContext) -> EntanglementConfig:
    assert isinstance(ctx.config, EntanglementConfig)
    return ctx.config


def _stimuli(ctx: UnitContext) -> dict[str, pd.DataFrame]:
    """Both domains (first n_frames frames each) and the moral-only items, user files recorded."""
    cfg = _config(ctx)

    def path(p: str | None) -> str | None:
        return str(ctx.data.use(p)) if p else None

    out = {
        "grammar": stimuli.load_grammar(path(cfg.grammar_stimuli)),
        "economic": stimuli.load_economic(path(cfg.economic_stimuli)),
    }
    for domain, df in out.items():
        keep = list(dict.fromkeys(df["frame"]))[: cfg.n_frames]
        out[domain] = df[df["frame"].isin(keep)].reset_index(drop=True).assign(domain=domain)
    out["moral"] = stimuli.load_moral(path(cfg.moral_stimuli))
    return out


# ----------------------------------------------------------------------------------------------- ratings


def _rating_rows(items: pd.DataFrame, kinds: list[str], paraphrases: int, reversed_n: int) -> pd.DataFrame:
    rows = []
    for kind in kinds:
        for k in range(paraphrases):
            for rev in (False, True) if k < reversed_n else (False,):
                block = items.assign(kind=kind, paraphrase=k, reversed=rev)
                rows.append(block)
    frame = pd.concat(rows, ignore_index=True)
    frame["prompt"] = [
        prompt(kind, k, rev, text)
        for kind, k, rev, text in zip(
            frame["kind"], frame["paraphrase"], frame["reversed"], frame["text"], strict=True
        )
    ]
    return frame


def _rate(lm: Any, rows: pd.DataFrame, progress: bool) -> pd.DataFrame:
    rated = lm.rate(list(rows["prompt"]), OPTIONS, reverse=list(rows["reversed"]), progress=progress)
    out = rows.drop(columns=["prompt"]).copy()
    out["expected"] = rated["expected"].to_numpy()
    out["mass"] = rated["mass"].to_numpy()
    return out


def item_scores(ratings: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One row per item: its mean rating of ``kind`` over paraphrases and scale directions."""
    sub = ratings[ratings["kind"] == kind]
    keys = [
        c for c in ("item_id", "domain", "frame", "pair", "base", "valence", "version") if c in sub.columns
    ]
    return sub.groupby(keys, sort=False, as_index=False).agg(score=("expected", "mean"))


def _agreement(ratings: pd.DataFrame, a: pd.Series, b: pd.Series, seed: int, n_boot: int) -> dict[str, Any]:
    """Pearson r between two rating variants of the same items (frame bootstrap CI)."""
    keys = ["item_id", "kind"]
    left = ratings[a].set_index(keys)["expected"]
    right = ratings[b].set_index(keys)["expected"]
    joined = pd.concat([left.rename("a"), right.rename("b")], axis=1, join="inner")
    frames = ratings.drop_duplicates(keys).set_index(keys).loc[joined.index, "frame"].to_numpy()
    # centre within kind: agreement on which items rate higher, not on each instruction's mean
    centred = joined.groupby(level="kind").transform(lambda s: s - s.mean())
    x, y = centred["a"].to_numpy(), centred["b"].to_numpy()

    def r(idx: np.ndarray) -> float:
        return float(np.corrcoef(x[idx], y[idx])[0, 1])

    est, lo, hi = stats.bootstrap(r, len(x), groups=frames, n_boot=n_boot, seed=seed)
    return metric(est, lo, hi, n=len(np.unique(frames)), better="higher")


def _ratings_step(ctx: UnitContext) -> Artifacts:
    cfg = _config(ctx)
    data = _stimuli(ctx)
    rows = [_rating_rows(data[d], [d, "moral"], cfg.paraphrases, cfg.reversed_paraphrases) for d in DOMAINS]
    ratings = _rate(ctx.lm, pd.concat(rows, ignore_index=True), ctx.progress)
    human = stimuli.load_human_ratings(ctx.data.use(cfg.human_ratings)) if cfg.human_ratings else None
    metrics: dict[str, dict[str, Any]] = {}
    notes = []
    for domain in DOMAINS:
        items = item_scores(ratings[ratings["domain"] == domain], domain)
        level, positive = LEVEL[domain]
        kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
        human_scores = _human(human, items, domain)
        ent = em.entanglement_estimate(items, "score", level, human=human_scores, **kw)
        disc = em.discrimination(items, "score", level, positive, **kw)
        flag = em.uninterpretable(disc)
        text = em.describe_entanglement(ent, domain)
        note = text + ("; UNINTERPRETABLE: the intended discrimination's CI covers 0" if flag else "")
        note += HUMAN_NOTE if human_scores is not None else "; human index 0 by construction"
        metrics[f"{domain}_entanglement"] = ent.as_metric(better="lower", note=note)
        metrics[f"{domain}_discrimination"] = disc.as_metric(
            better="higher", note=f"Cohen's d, {positive} vs the other version, on the {domain} rating"
        )
        notes.append({"domain": domain, "statement": note, "uninterpretable": flag})
        if cfg.reversed_paraphrases >= 1:
            for label, rev in (("normal", False), ("reversed", True)):
                rows_ = ratings[(ratings["domain"] == domain) & (ratings["reversed"] == rev)]
                sub = item_scores(rows_[rows_["paraphrase"] < cfg.reversed_paraphrases], domain)
                est = em.entanglement_estimate(sub, "score", level, human=_human(human, sub, domain), **kw)
                metrics[f"{domain}_entanglement_{label}_scale"] = est.as_metric(
                    better="lower",
                    note=f"only the {label}-scale ratings of the paraphrases asked both ways (a model that "
                    "answers the same digit whatever the anchors say flips sign between the two)",
                )
    moral_items = item_scores(ratings, "moral")
    moral = em.discrimination(
        moral_items, "score", "valence", "good", n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
    )
    metrics["moral_discrimination"] = moral.as_metric(
        better="higher", note="good vs bad items on the moral rating"
    )
    base_variant = (ratings["paraphrase"] == 0) & ~ratings["reversed"]
    if cfg.paraphrases >= 2:
        metrics["agreement_paraphrase"] = _agreement(
            ratings, base_variant, (ratings["paraphrase"] == 1) & ~ratings["reversed"], ctx.seed, cfg.n_boot
        )
        metrics["agreement_paraphrase"]["note"] = "Pearson r, paraphrase 1 vs 2 (centred within instruction)"
    if cfg.reversed_paraphrases >= 1:
        metrics["agreement_reversal"] = _agreement(
            ratings, base_variant, (ratings["paraphrase"] == 0) & ratings["reversed"], ctx.seed, cfg.n_boot
        )
        metrics["agreement_reversal"]["note"] = (
            "Pearson r, normal vs reversed scale (centred within instruction)"
        )
    metrics["option_mass"] = _mean_metric(
        ratings["mass"].to_numpy(), ratings["frame"].to_numpy(), ctx.seed, cfg.n_boot
    )
    metrics["option_mass"]["note"] = "probability the next token is one of 1-7"
    return Artifacts(tables={"ratings": ratings, "verdict": pd.DataFrame(notes)}, metrics=metrics)


def _human(human: pd.DataFrame | None, items: pd.DataFrame, domain: str) -> pd.Series | None:
    column = {"grammar": "grammatical", "economic": "economic"}[domain]
    if human is None or column not in human.columns:
        return None
    stimuli.check_human_ratings(human, items)
    return items["item_id"].map(human.set_index("item_id")[column])


def _mean_metric(values: np.ndarray, groups: np.ndarray, seed: int, n_boot: int) -> dict[str, Any]:
    est, lo, hi = stats.bootstrap(
        lambda idx: float(values[idx].mean()), len(values), groups=groups, n_boot=n_boot, seed=seed
    )
    return metric(est, lo, hi, n=len(np.unique(groups)))


# ----------------------------------------------------------------------------------------------- log-prob


def _logprob_step(ctx: UnitContext) -> Artifacts:
    cfg = _config(ctx)
    ratings = ctx.previous["ratings"].tables["ratings"]
    metrics: dict[str, dict[str, Any]] = {}
    tables = {}
    for domain in DOMAINS:
        items = item_scores(ratings[ratings["domain"] == domain], domain)
        texts = _texts_of(ctx, domain, items["item_id"])
        lp = ctx.lm.logprob(texts, progress=ctx.progress)
        items["logprob"] = lp["logprob"].to_numpy()
        level, _ = LEVEL[domain]
        est = em.logprob_adjusted_index(
            items, "score", level, "logprob", n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
        )
        metrics[f"{domain}_entanglement_logprob_adjusted"] = est.as_metric(
            better="lower", note="entanglement after regressing each rating on the item's log-probability"
        )
        tables[f"logprob_{domain}"] = items
    return Artifacts(tables=tables, metrics=metrics)


def _texts_of(ctx: UnitContext, domain: str, ids: pd.Series) -> list[str]:
    data = _stimuli(ctx)[domain].set_index("item_id")
    return [str(t) for t in data.loc[list(ids), "text"]]


# ----------------------------------------------------------------------------------------------- geometry


def _geometry(
    x: dict[str, np.ndarray], data: dict[str, pd.DataFrame], cfg: EntanglementConfig, seed: int
) -> dict[str, Any]:
    """Direction cosines and cross-domain transfer AUROCs for one representation. The cosines' null pairs
    random directions drawn from the covariance of the items (each domain centred on its own mean)."""
    moral, gram, econ = data["moral"], data["grammar"], data["economic"]
    y_moral = (moral["valence"] == "good").to_numpy()
    y_gram = (gram["version"] == "grammatical").to_numpy()
    y_econ = (econ["version"] == "good_deal").to_numpy()
    d_moral = em.diff_of_means(x["moral"], y_moral)
    d_gram = em.diff_of_means(x["grammar"], y_gram)
    d_econ = em.diff_of_means(x["economic"], y_econ)
    pooled = np.concatenate([v - v.mean(axis=0) for v in x.values()])
    null = ctl.covariance_cosine_null(pooled, cfg.n_null, np.random.default_rng(seed))
    out: dict[str, Any] = {}
    for name, d in (("grammar", d_gram), ("economic", d_econ)):
        cos, p = em.cosine_vs_null(d_moral, d, null)
        out[f"cos_moral_{name}"], out[f"cos_moral_{name}_p"] = cos, p
    kw = {"n_boot": cfg.n_boot, "seed": seed}
    tests = {
        "moral_to_grammar": (x["moral"], y_moral, x["grammar"], y_gram, gram["frame"]),
        "moral_to_economic": (x["moral"], y_moral, x["economic"], y_econ, econ["frame"]),
        "grammar_to_moral": (x["grammar"], y_gram, x["moral"], y_moral, moral["frame"]),
        "economic_to_moral": (x["economic"], y_econ, x["moral"], y_moral, moral["frame"]),
        "moral_to_valence_grammar": (
            x["moral"],
            y_moral,
            x["grammar"],
            (gram["valence"] == "good").to_numpy(),
            gram["frame"],
        ),
        "moral_to_valence_economic": (
            x["moral"],
            y_moral,
            x["economic"],
            (econ["valence"] == "good").to_numpy(),
            econ["frame"],
        ),
    }
    for name, (xa, ya, xb, yb, groups) in tests.items():
        out[name] = em.transfer_auroc(xa, ya, xb, yb, groups.to_numpy(), **kw)
    return out


def _geometry_row(read_point: int | str, g: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"read_point": read_point}
    for key, value in g.items():
        if isinstance(value, stats.Estimate):
            row[f"auroc_{key}"] = value.estimate
            row[f"auroc_{key}_low"] = value.ci_low
            row[f"auroc_{key}_high"] = value.ci_high
            row[f"auroc_{key}_p"] = value.p
        else:
            row[key] = value
    return row


def repair_read_point(
    cfg: EntanglementConfig,
    n_layers: int,
    moral_x: np.ndarray | None,
    y: np.ndarray | None,
    groups: np.ndarray | None,
    seed: int,
) -> int:
    """The read point of the moral direction by the config's rule (``best`` uses only moral-only items)."""
    rule = cfg.repair_read_point
    if isinstance(rule, int):
        if not 0 <= rule <= n_layers:
            raise ValueError(f"entanglement.repair_read_point={rule} is outside 0..{n_layers}")
        return rule
    if rule == "middle" or moral_x is None or y is None or groups is None:
        return n_layers // 2
    scores = []
    folds = stats.grouped_folds(groups, min(5, len(np.unique(groups))), seed=seed)
    for j in range(1, moral_x.shape[1]):
        preds = np.zeros(len(y))
        for train, test in folds:
            d = em.diff_of_means(moral_x[train, j], y[train])
            preds[test] = moral_x[test, j] @ d
        scores.append(stats.auroc(preds, y))
    return 1 + int(np.nanargmax(scores))


def _residual_step(ctx: UnitContext) -> Artifacts:
    cfg = _config(ctx)
    lm = ctx.lm
    data = _stimuli(ctx)
    read_points = list(range(lm.n_layers + 1))
    acts = {
        k: lm.residuals(list(data[k]["text"]), layers=read_points, pool="mean", progress=ctx.progress)
        .double()
        .numpy()
        for k in ("moral", "grammar", "economic")
    }
    rows = []
    for j, rp in enumerate(read_points):
        g = _geometry({k: v[:, j] for k, v in acts.items()}, data, cfg, ctx.seed)
        rows.append(_geometry_row(rp, g))
    layers = pd.DataFrame(rows)
    for name in ("cos_moral_grammar", "cos_moral_economic"):
        layers[f"{name}_q"] = stats.fdr_bh(layers[f"{name}_p"].to_numpy())
    y = (data["moral"]["valence"] == "good").to_numpy()
    rp = repair_read_point(cfg, lm.n_layers, acts["moral"], y, data["moral"]["frame"].to_numpy(), ctx.seed)
    at = rows[rp]
    metrics = {}
    for key, label in (
        ("moral_to_valence_grammar", "moral_direction_auroc_grammar_items"),
        ("moral_to_valence_economic", "moral_direction_auroc_economic_items"),
        ("moral_to_grammar", "moral_to_grammar_transfer_auroc"),
        ("moral_to_economic", "moral_to_economic_transfer_auroc"),
    ):
        metrics[label] = metric(
            at[f"auroc_{key}"],
            at[f"auroc_{key}_low"],
            at[f"auroc_{key}_high"],
            p=at[f"auroc_{key}_p"],
            n=int(data["grammar" if "grammar" in key else "economic"]["frame"].nunique()),
            layer=rp,
            note="direction fit on moral-only items (or the domain contrast), AUROC on the other items",
        )
    for name in ("grammar", "economic"):
        q = float(layers[f"cos_moral_{name}_q"].min())
        metrics[f"n_layers_moral_{name}_cosine_significant"] = metric(
            int((layers[f"cos_moral_{name}_q"] < 0.05).sum()),
            n=len(read_points),
            note=f"read points where the moral and {name} directions' cosine beats a null of {cfg.n_null} "
            f"random direction pairs drawn from the items' covariance at FDR 5% (BH; smallest q {q:.3g})",
        )
    return Artifacts(tables={"layers": layers}, metrics=metrics, data={"repair_read_point": rp})


def _embedding_step(ctx: UnitContext) -> Artifacts:
    from valuescope.readout.sentence_embeddings import sentence_embeddings

    cfg = _config(ctx)
    data = _stimuli(ctx)
    x = {k: sentence_embeddings(list(data[k]["text"])) for k in ("moral", "grammar", "economic")}
    g = _geometry(x, data, cfg, ctx.seed)
    table = pd.DataFrame([_geometry_row("all-MiniLM-L6-v2", g)]).rename(columns={"read_point": "space"})
    metrics = {
        "embedding_moral_to_grammar_auroc": g["moral_to_grammar"].as_metric(
            note="all-MiniLM-L6-v2: moral direction (moral-only items) scoring grammatical vs ungrammatical"
        ),
        "embedding_moral_to_economic_auroc": g["moral_to_economic"].as_metric(
            note="all-MiniLM-L6-v2: moral direction scoring good vs bad deals"
        ),
    }
    return Artifacts(tables={"embeddings": table}, metrics=metrics)


# ----------------------------------------------------------------------------------------------- repair


def _reference_tokens(lm: Any, rp: int) -> np.ndarray:
    """Residuals (tokens, d) of the neutral reference text's own tokens at read point ``rp``."""
    from valuescope.stimuli.reference import reference_texts

    ref = lm.residuals(reference_texts(), layers=[rp], pool="all")
    return ref.values[:, 0][ref.mask].double().numpy()


def _repair_step(ctx: UnitContext) -> Artifacts:
    from valuescope.stimuli.reference import reference_texts

    cfg = _config(ctx)
    lm = ctx.lm
    data = _stimuli(ctx)
    ratings = ctx.previous["ratings"].tables["ratings"]
    rp = int(ctx.previous["residuals"].data["repair_read_point"])

    moral = data["moral"]
    templated = [prompt("moral", 0, False, t) for t in moral["text"]]
    x = lm.residuals(templated, layers=[rp], pool="last", progress=ctx.progress)[:, 0].double().numpy()
    y = (moral["valence"] == "good").to_numpy()
    reference = _reference_tokens(lm, rp)
    if cfg.moral_direction == "quiet":
        direction = em.quiet_direction(x, y, reference, cfg.shrinkage)
    else:
        direction = em.diff_of_means(x, y)
    match = reference if cfg.random_match == "reference" else x
    randoms = em.matched_random_directions(match, direction, cfg.n_random, ctx.seed)

    held: dict[str, pd.DataFrame] = {}
    for domain in DOMAINS:
        frames = data[domain]["frame"].to_numpy()
        _, report = stats.split_half(frames, seed=ctx.seed)
        held[domain] = data[domain][report].reset_index(drop=True)
    targets = list(range(lm.n_layers + 1))

    def rows_for(kinds: Callable[[str], list[str]]) -> pd.DataFrame:
        return pd.concat([_rating_rows(held[d], kinds(d), 1, 0) for d in DOMAINS], ignore_index=True)

    def edit(v: np.ndarray) -> Any:
        return lm.ablate(
            torch.from_numpy(v).float(),
            layers=targets,
            sublayers=cfg.ablate_sublayers,
            center="reference" if cfg.ablation_center == "reference" else None,
            keep_special=cfg.keep_special,
        )

    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts], seed=ctx.seed)
    moral_edit = edit(direction)
    with moral_edit:
        after = _rate(lm, rows_for(lambda d: [d, "moral"]), ctx.progress)
    cost = meter(moral_edit)
    random_tables, random_kl = [], []
    for i, r in enumerate(randoms):
        random_edit = edit(r)
        with random_edit:
            random_tables.append(_rate(lm, rows_for(lambda d: [d]), ctx.progress).assign(direction=i))
        if i < cfg.n_random_damage:
            random_kl.append(meter(random_edit)["kl_mean"])
    random_all = pd.concat(random_tables, ignore_index=True)

    base = (ratings["paraphrase"] == 0) & ~ratings["reversed"]
    before = ratings[base & ratings["item_id"].isin(pd.concat(held.values())["item_id"])]
    kw: dict[str, Any] = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": ctx.seed}
    metrics: dict[str, dict[str, Any]] = {}
    verdicts = []
    comparison = []
    for domain in DOMAINS:
        level, positive = LEVEL[domain]
        b_items = item_scores(before[before["domain"] == domain], domain)
        a_items = item_scores(after[after["domain"] == domain], domain)
        ent_b = em.entanglement_estimate(b_items, "score", level, **kw)
        ent_a = em.entanglement_estimate(a_items, "score", level, **kw)
        disc_b = em.discrimination(b_items, "score", level, positive, **kw)
        disc_a = em.discrimination(a_items, "score", level, positive, **kw)
        rand = np.array(
            [
                em.entanglement_index(item_scores(t[t["domain"] == domain], domain), "score", level)
                for _, t in random_all.groupby("direction")
            ]
        )
        level_before = em.entanglement_index(b_items, "score", level)
        against = ctl.against_controls(
            ent_a.estimate - level_before,
            rand - level_before,
            better="lower" if ent_b.estimate >= 0 else "higher",
            controls=f"{len(rand)} ablations of random directions matched on the moral direction's projected "
            f"variance on {'neutral reference text' if cfg.random_match == 'reference' else 'the items'}",
        )
        verdict = em.repair_verdict(
            ent_b, against.beats if against.decided else None, disc_b, disc_a.estimate
        )
        small = cfg.small_cell(ent_a.n, "held-out frames")
        extra = f"; {small}" if small else ""
        metrics[f"{domain}_entanglement_heldout_before"] = ent_b.as_metric(
            better="lower",
            note=f"held-out frames, paraphrase 1, normal scale (the repair's comparison){extra}",
        )
        metrics[f"{domain}_entanglement_after_repair"] = ent_a.as_metric(
            layer=rp, better="lower", note=f"repair: {verdict}{extra}"
        )
        metrics[f"{domain}_discrimination_after_repair"] = disc_a.as_metric(layer=rp, better="higher")
        metrics[f"random_ablation_{domain}_entanglement"] = against.null_metric(layer=rp)
        s_null = against.summary
        verdicts.append(
            {
                "domain": domain,
                "verdict": verdict,
                "before": ent_b.estimate,
                "after": ent_a.estimate,
                "random_median": np.nan if s_null is None else level_before + s_null.median,
                "random_low": np.nan if s_null is None else level_before + s_null.low,
                "random_high": np.nan if s_null is None else level_before + s_null.high,
                "rank_p": against.p,
                "controls": against.verdict(),
            }
        )
        for i, v in enumerate(rand):
            comparison.append({"domain": domain, "direction": f"random {i}", "entanglement_after": v})
        comparison.append({"domain": domain, "direction": "moral", "entanglement_after": ent_a.estimate})
    moral_a = em.discrimination(item_scores(after, "moral"), "score", "valence", "good", **kw)
    moral_b = em.discrimination(item_scores(before, "moral"), "score", "valence", "good", **kw)
    metrics["moral_discrimination_heldout_before"] = moral_b.as_metric(better="higher")
    metrics["moral_discrimination_after_repair"] = moral_a.as_metric(
        layer=rp, note="the moral rating itself should fall when the moral direction is gone"
    )
    metrics["repair_kl"] = metric(
        cost["kl_mean"],
        cost["kl_ci_low"],
        cost["kl_ci_high"],
        n=int(cost["n_texts"]),
        layer=rp,
        better="lower",
        note=f"KL(base || edited) per token on {int(cost['n_texts'])} neutral reference texts",
    )
    if random_kl:
        metrics["random_ablation_kl"] = metric(
            float(np.median(random_kl)),
            float(np.min(random_kl)),
            float(np.max(random_kl)),
            n=len(random_kl),
            layer=rp,
            better="lower",
            note=f"median KL of {len(random_kl)} of the random ablations (interval: their range); a random "
            "edit much more damaging than the repair would make the control unfair",
        )
    metrics["repair_ppl_ratio"] = metric(
        cost["ppl_ratio"],
        cost["ppl_ratio_ci_low"],
        cost["ppl_ratio_ci_high"],
        n=int(cost["n_texts"]),
        layer=rp,
        better="lower",
        note="perplexity edited / base on neutral reference text",
    )
    return Artifacts(
        tables={
            "repair": pd.DataFrame(verdicts),
            "repair_ratings": after,
            "repair_random": pd.DataFrame(comparison),
        },
        tensors={
            "moral_direction": torch.from_numpy(direction).float(),
            "random_directions": torch.from_numpy(randoms).float(),
        },
        metrics=metrics,
    )


# ----------------------------------------------------------------------------------------------- findings


def _ci(m: dict[str, Any], digits: int = 2) -> str:
    est, lo, hi = (m.get(k) for k in ("estimate", "ci_low", "ci_high"))
    if not isinstance(est, int | float) or not np.isfinite(est):
        return "n/a"
    out = f"{est:.{digits}f}"
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        out += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    p = m.get("p")
    if isinstance(p, int | float):
        out += ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"
    return out


def _excludes_zero(m: dict[str, Any] | None) -> bool:
    if not m or not isinstance(m.get("ci_low"), int | float) or not isinstance(m.get("ci_high"), int | float):
        return False
    return bool(m["ci_low"] > 0 or m["ci_high"] < 0)


_CONTRAST = {"grammar": "grammatical from ungrammatical sentences", "economic": "good from bad deals"}
_VERDICT = {
    "works": "the repair works: entanglement fell further than under random-direction ablations (p <= 0.05) "
    "while the intended "
    "discrimination stayed within its CI",
    "entanglement unchanged": "the repair does not work: entanglement after it is within the range of "
    "random-direction ablations",
    "damages discrimination": "the repair does not count: it moved the intended discrimination outside "
    "its CI",
    "no entanglement to repair": "there was no reliable entanglement on the held-out frames to repair",
    "controls not computable": "the repair cannot be judged against random-direction ablations (the "
    "comparison is not computable, or there are too few of them for p <= 0.05)",
}


def _significant(m: dict[str, Any]) -> bool:
    p = m.get("p")
    return _excludes_zero(m) and isinstance(p, int | float) and p < 0.05


def model_findings(metrics: dict[str, dict[str, Any]], repair: pd.DataFrame | None) -> list[str]:
    """Plain-words sentences on one model's entanglement results: first the overall answer per
    domain, then the evidence, the inside view and the repair. A leak is claimed only when the
    bootstrap CI excludes 0 and the permutation p is below 0.05."""
    out: list[str] = []
    status: list[str] = []
    for domain in DOMAINS:
        ent, disc = metrics.get(f"{domain}_entanglement"), metrics.get(f"{domain}_discrimination")
        if not ent or not disc:
            continue
        human = ", relative to the human ratings" if HUMAN_NOTE in str(ent.get("note", "")) else ""
        if not _excludes_zero(disc) or (disc.get("estimate") or 0) <= 0:
            out.append(
                f"{domain.capitalize()}: the model does not reliably tell {_CONTRAST[domain]} on its own "
                f"rating (d = {_ci(disc)}), so its {domain} entanglement (d = {_ci(ent)}) cannot be "
                "interpreted."
            )
            status.append(f"cannot be judged on {domain} value (it does not tell {_CONTRAST[domain]})")
            continue
        sign = "raises" if (ent.get("estimate") or 0) > 0 else "lowers"
        if _significant(ent):
            verdict = f"moral goodness {sign} its {domain} ratings"
            status.append(f"entangles moral with {domain} value (d = {ent['estimate']:.2f}{human})")
        elif _excludes_zero(ent):
            verdict = (
                f"the bootstrap CI says moral goodness {sign} its {domain} ratings but the permutation "
                "test does not confirm it"
            )
            status.append(f"may entangle moral with {domain} value (mixed evidence)")
        else:
            verdict = f"moral goodness does not reliably change its {domain} ratings"
            status.append(f"shows no reliable moral leak into {domain} value")
        adj = metrics.get(f"{domain}_entanglement_logprob_adjusted")
        adj_text = f"; adjusted for the items' log-probability d = {_ci(adj)}" if adj else ""
        out.append(
            f"{domain.capitalize()}: the model tells {_CONTRAST[domain]} (d = {_ci(disc)}); {verdict} "
            f"(entanglement d = {_ci(ent)}{human or ', human norm 0'}){adj_text}."
        )
    if status:
        out.insert(0, "In its ratings this model " + "; it ".join(status) + ".")
    par, rev = metrics.get("agreement_paraphrase"), metrics.get("agreement_reversal")
    if par and rev:
        text = (
            f"Ratings agree across instruction paraphrases r = {_ci(par)} and across reversed scales "
            f"r = {_ci(rev)}"
        )
        if (rev.get("estimate") or 0) < 0:
            text += (
                "; the negative reversal agreement means the model gives the same answer whatever the "
                "anchors say, which pooled ratings cancel (see the per-scale indices)"
            )
        out.append(text + ".")
    auroc, transfer = (
        metrics.get("moral_direction_auroc_grammar_items"),
        metrics.get("moral_to_grammar_transfer_auroc"),
    )
    if auroc and transfer:
        out.append(
            f"Inside the model (read point {auroc.get('layer')}), a moral direction fit on moral-only items "
            f"separates morally good from bad grammar items with AUROC {_ci(auroc)} and scores grammatical "
            f"above ungrammatical with AUROC {_ci(transfer)} (0.5 = chance)."
        )
    kl = metrics.get("repair_kl")
    if repair is not None and kl:
        rkl = metrics.get("random_ablation_kl")
        cost = f"KL {_ci(kl, 3)} per token on neutral text" + (
            f", random ablations median {rkl['estimate']:.3f} (range {rkl['ci_low']:.3f} to "
            f"{rkl['ci_high']:.3f})"
            if rkl
            else ""
        )
        for row in repair.to_dict("records"):
            p = row.get("rank_p")
            if isinstance(p, int | float) and np.isfinite(p):
                controls = (
                    f"random directions {row['random_median']:.2f} (95% range {row['random_low']:.2f} to "
                    f"{row['random_high']:.2f}, rank p of the change = {p:.3f})"
                )
            else:
                controls = f"random directions {row.get('controls', 'not computable')}"
            out.append(
                f"Repair, {row['domain']} (moral direction ablated at every read point; {cost}): "
                f"entanglement {row['before']:.2f} before, {row['after']:.2f} after, {controls}; "
                f"{_VERDICT.get(str(row['verdict']), str(row['verdict']))}."
            )
    return out


class Entanglement(Study):
    name = "entanglement"
    title = "Value entanglement: moral good in grammatical and economic judgments"
    description = (
        "Does moral goodness leak into a model's grammatical and economic judgments? Matched stimuli cross "
        "moral valence with grammaticality and with the economic value of a deal; the human norm is that "
        "neither depends on moral valence. Entanglement is Cohen's d of morally good vs bad items on the "
        "non-moral rating within each non-moral level (positive: moral goodness raises the rating), with "
        "frame-grouped bootstrap CIs and permutation p-values. The same contrasts are read from a sentence-"
        "embedding model and from the residual stream at every read point; the repair ablates one moral "
        "direction at every read point and compares it with random directions of matched projected variance."
    )
    reference = (
        "Cho, Li & Leshinskaya (2026). Value Entanglement: Conflation Between Different Kinds of Good in "
        "(Some) Large Language Models."
    )
    Config = EntanglementConfig
    metrics: ClassVar[dict[str, str]] = {
        "grammar_entanglement": "Moral leak into grammaticality ratings (d, model minus human norm).",
        "economic_entanglement": "Moral leak into deal ratings (d, model minus human norm).",
        "grammar_discrimination": "Grammatical vs ungrammatical on the grammar rating (d).",
        "economic_discrimination": "Good vs bad deal on the deal rating (d).",
        "moral_discrimination": "Morally good vs bad on the moral rating (d).",
        "grammar_entanglement_logprob_adjusted": "Grammar entanglement adjusted for item log-probability.",
        "economic_entanglement_logprob_adjusted": "Economic entanglement adjusted for item log-probability.",
        "agreement_paraphrase": "Agreement of ratings across instruction paraphrases (r).",
        "agreement_reversal": "Agreement of ratings across normal and reversed scales (r).",
        "grammar_entanglement_after_repair": "Grammar entanglement with the moral direction ablated.",
        "economic_entanglement_after_repair": "Economic entanglement with the moral direction ablated.",
        "random_ablation_grammar_entanglement": "Change in grammar entanglement under random ablations "
        "(median, 95% range; p: the repair's change against them).",
        "random_ablation_economic_entanglement": "Change in economic entanglement under random ablations "
        "(median, 95% range; p: the repair's change against them).",
        "repair_kl": "Damage of the repair: KL on neutral text.",
    }
    tables: ClassVar[dict[str, str]] = {
        "ratings": "Every item rated under each instruction, paraphrase and scale direction.",
        "verdict": "Plain-words statement of the entanglement per domain.",
        "layers": "Per read point: moral-vs-domain direction cosines (random null p, BH q), transfer AUROCs.",
        "embeddings": "The same geometry in all-MiniLM-L6-v2 sentence embeddings.",
        "repair": "Per domain: entanglement before and after the repair, the random range, the verdict.",
        "repair_random": "Entanglement after ablating the moral direction and each random direction.",
    }
    figures: ClassVar[dict[str, str]] = {
        "transfer_by_layer": "AUROC of the moral direction (fit on moral-only items) per read point: "
        "separating good from bad domain items, and transferring to grammaticality and deal value "
        "(95% CI; 0.5 = chance).",
        "repair": "Entanglement on the held-out frames (first paraphrase, normal scale) before and after "
        "ablating the moral direction, with the range after random directions.",
    }

    def steps(self, config: StudyConfig) -> list[Step]:
        return [
            Step("ratings", _ratings_step, needs="behaviour"),
            Step("logprob", _logprob_step),
            Step("embeddings", _embedding_step, needs="none"),
            Step("residuals", _residual_step),
            Step("repair", _repair_step),
        ]

    def findings(self, result: Result) -> dict[str, list[str]]:
        out = {}
        for model in result.models:
            art = result.per_model[model]
            out[model] = model_findings(art.metrics, art.tables.get("repair"))
        return out

    def make_figures(self, result: Result) -> dict[str, Figure]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figs: dict[str, Figure] = {}
        models = [m for m in result.models if "layers" in result.per_model[m].tables]
        if models:
            fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
            panels = (
                ("moral_to_valence_grammar", "good vs bad (grammar items)"),
                ("moral_to_grammar", "→ grammatical vs not"),
                ("moral_to_economic", "→ good vs bad deal"),
            )
            for ax, (key, title) in zip(axes, panels, strict=True):
                for m in models:
                    t = result.per_model[m].tables["layers"]
                    (line,) = ax.plot(t["read_point"], t[f"auroc_{key}"], marker="o", ms=3, label=m)
                    ax.fill_between(
                        t["read_point"],
                        t[f"auroc_{key}_low"],
                        t[f"auroc_{key}_high"],
                        alpha=0.2,
                        color=line.get_color(),
                    )
                ax.axhline(0.5, color="grey", lw=1, ls="--")
                ax.set_title(title, fontsize=10)
                ax.set_xlabel("read point")
            axes[0].set_ylabel("AUROC of the moral direction")
            axes[-1].legend(fontsize=8, frameon=False)
            fig.tight_layout()
            figs["transfer_by_layer"] = fig
        repaired = [m for m in result.models if "repair" in result.per_model[m].tables]
        if repaired:
            fig, axes = plt.subplots(1, len(DOMAINS), figsize=(4 + 1.5 * len(repaired), 3.6))
            for ax, domain in zip(np.atleast_1d(axes), DOMAINS, strict=True):
                for i, m in enumerate(repaired):
                    row = result.per_model[m].tables["repair"].set_index("domain").loc[domain]
                    ax.fill_between(
                        [i - 0.3, i + 0.3],
                        row["random_low"],
                        row["random_high"],
                        color="grey",
                        alpha=0.3,
                        label="random 95% range" if i == 0 else None,
                    )
                    ax.plot([i - 0.15], [row["before"]], "o", color="C0", label="before" if i == 0 else None)
                    ax.plot(
                        [i + 0.15], [row["after"]], "s", color="C3", label="after repair" if i == 0 else None
                    )
                ax.axhline(0, color="black", lw=0.8)
                ax.set_xticks(range(len(repaired)), repaired, rotation=15, fontsize=8)
                ax.set_title(f"{domain} entanglement (d)", fontsize=10)
            np.atleast_1d(axes)[0].legend(fontsize=8, frameon=False)
            fig.tight_layout()
            figs["repair"] = fig
        return figs
