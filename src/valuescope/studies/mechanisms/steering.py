"""Steps 6-7 of ``mechanisms``: steer with each kind of value vector (and scale value neurons) at
matched damage, read the shift in the model's self-ratings, and the diversity of what it then writes.

Self-ratings: the model rates first-person statements (the package's, and ValueBench's PVQ40 when
the data folder has it) from 1 to 6. The steering shift of a vector for value v is the change in the
ratings of v's statements minus the mean change of the other nine values' statements.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from valuescope.analysis import mechanisms as mech
from valuescope.analysis import stats
from valuescope.edit import controls as ctl
from valuescope.readout.damage import DamageMeter
from valuescope.readout.ratings import PreparedRating
from valuescope.stimuli import mechanisms as stimuli
from valuescope.stimuli.valuebench import VALUEBENCH_FILE, load_pvq40
from valuescope.stimuli.values import SCHWARTZ_VALUES
from valuescope.studies.mechanisms.config import MechanismsConfig
from valuescope.studies.mechanisms.responses import STOP, config_of, render
from valuescope.studies.metrics import metric, missing
from valuescope.studies.protocol import Artifacts, UnitContext

VALUES = list(SCHWARTZ_VALUES)
OPTIONS = [str(i) for i in range(1, 7)]
SELF_RATING = (
    "Here is a statement a person might make about themselves. How much is it like you? Answer from 1 to 6, "
    'where 1 means not like me at all and 6 means very much like me.\nStatement: "{text}"\nAnswer:'
)
VECTOR_KINDS = ("intrinsic", "prompted", "intrinsic_only", "prompted_only", "shared")
"""Steering vectors per value: each condition's vector, each orthogonalised against the other, and
their shared axis."""
DIVERSITY_KINDS = ("intrinsic", "prompted")


# ----------------------------------------------------------------------------------------------- self-ratings


def questionnaire(ctx: UnitContext, steering: bool = False) -> pd.DataFrame:
    """The statements rated: the package's (or the user's) and PVQ40 when available and asked for
    (``pvq40`` for the unsteered ratings, ``steer_pvq40`` also under every steering edit)."""
    cfg = config_of(ctx)
    items = [stimuli.load_statements(str(ctx.data.use(cfg.statements)) if cfg.statements else None)]
    if steering:
        items[0] = _subset(items[0], cfg.steer_statements)
    wanted = cfg.steer_pvq40 if steering else cfg.pvq40
    path = ctx.data.find(VALUEBENCH_FILE) if wanted else None
    if path is not None:
        items.append(load_pvq40(ctx.data.use(path)))
    out = pd.concat(items, ignore_index=True)
    out["prompt"] = [SELF_RATING.format(text=t.strip()) for t in out["text"]]
    return out


def _subset(items: pd.DataFrame, per_value: int) -> pd.DataFrame:
    """The first ``per_value`` statements of each value, a third of them (rounded down) reverse-keyed
    where the file has enough, in file order."""
    keep = []
    for _, group in items.groupby("value", sort=False):
        n_rev = min(int(group["reverse"].sum()), per_value // 3)
        forward = group[~group["reverse"]].head(per_value - n_rev)
        keep.append(pd.concat([forward, group[group["reverse"]].head(per_value - len(forward))]))
    return pd.concat(keep).sort_index()


def prepared_rating(lm: Any, items: pd.DataFrame) -> PreparedRating:
    """The self-rating of ``items``, prepared to be read under many edits (``readout.ratings``)."""
    return PreparedRating(lm, list(items["prompt"]), OPTIONS, reverse=list(items["reverse"].astype(bool)))


def _expected(rating: PreparedRating) -> np.ndarray:
    return rating(progress=False)["expected"].to_numpy(dtype=np.float64)


def self_ratings_step(ctx: UnitContext) -> Artifacts:
    items = questionnaire(ctx)
    rated = ctx.lm.rate(list(items["prompt"]), OPTIONS, reverse=list(items["reverse"].astype(bool)))
    table = items.drop(columns=["prompt"]).assign(
        expected=rated["expected"].to_numpy(), mass=rated["mass"].to_numpy()
    )
    metrics: dict[str, dict[str, Any]] = {}
    for name, sub in table.groupby("questionnaire"):
        mass = sub["mass"].to_numpy()
        est, lo, hi = stats.bootstrap(_mean_of(mass), len(mass), n_boot=500, seed=ctx.seed)
        metrics[f"self_rating_option_mass_{name}"] = metric(
            est, lo, hi, n=len(mass), note="probability that the answer is one of 1-6"
        )
    profile = table[table["questionnaire"] == "valuescope"].groupby("value")["expected"].mean()
    centred = (profile - profile.mean()).reindex(VALUES)
    return Artifacts(
        tables={"self_ratings": table, "self_rating_profile": centred.rename("centred_rating").reset_index()},
        metrics=metrics,
    )


# ----------------------------------------------------------------------------------------------- steering


def steering_vectors(ctx: UnitContext) -> dict[str, np.ndarray]:
    """Unit steering vectors (10, d) of every kind at the chosen read point."""
    t = ctx.previous["vectors"].tensors
    rp = int(ctx.previous["vectors"].data["read_point"])
    raw = {
        "intrinsic": t["intrinsic_vectors"][:, rp],
        "prompted": t["prompted_vectors"][:, rp],
        "intrinsic_only": t["intrinsic_only"],
        "prompted_only": t["prompted_only"],
        "shared": t["shared_axes"],
    }
    return {k: mech.unit(v.double().numpy()) for k, v in raw.items()}


def match_alpha(
    make: Callable[[float], Any], meter: DamageMeter, cfg: MechanismsConfig, start: float
) -> tuple[float, dict[str, float], bool]:
    """(alpha, damage, matched) by the config's rule. ``matched_kl`` rescales alpha by
    sqrt(target / KL) (KL grows about quadratically) until KL is within the tolerance band, up to
    four tries and ``alpha_max``; the closest try is returned with matched False if none was in band."""
    if cfg.alpha_rule == "fixed":
        return cfg.alpha, meter(make(cfg.alpha)), True
    alpha, tried = min(start, cfg.alpha_max), []
    for _ in range(4):
        d = meter(make(alpha))
        tried.append((abs(math.log(max(d["kl_mean"], 1e-9) / cfg.target_kl)), alpha, d))
        ratio = d["kl_mean"] / cfg.target_kl
        if abs(ratio - 1) <= cfg.kl_tolerance:
            return alpha, d, True
        nxt = alpha * 4 if d["kl_mean"] <= 1e-9 else alpha / math.sqrt(ratio)
        nxt = min(nxt, cfg.alpha_max)
        if nxt == alpha:
            break
        alpha = nxt
    _, alpha, d = min(tried, key=lambda t: t[0])
    return alpha, d, False


def next_start(alpha: float, damage: dict[str, float], cfg: MechanismsConfig) -> float:
    """First alpha to try for the next vector of a kind: this one's matched alpha, moved to the
    target KL by the quadratic rule (this one's KL was anywhere in the tolerance band)."""
    kl = damage["kl_mean"]
    return min(alpha * math.sqrt(cfg.target_kl / kl), cfg.alpha_max) if kl > 1e-9 else alpha


def steered_values(n: int) -> list[int]:
    """Indices into ``VALUES`` of the ``n`` steered values, spread evenly round the circle."""
    return [i * len(VALUES) // n for i in range(n)]


def _mean_of(x: np.ndarray, nan: bool = False) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic: the mean of ``x`` over the resampled rows."""
    return lambda i: float(np.nanmean(x[i]) if nan else np.mean(x[i]))


def _shift_of(
    delta: np.ndarray, item_values: np.ndarray, steered: list[int]
) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic over statements: the mean steering shift over the steered values."""
    return lambda i: float(np.mean(_shifts(delta[:, i], item_values[i], steered)))


def _shifts(delta: np.ndarray, item_values: np.ndarray, steered: list[int]) -> np.ndarray:
    """Per steered value: its steering shift from its row of ``delta`` (steered values, items)."""
    return np.array([mech.steering_shift(delta[r], item_values, VALUES[v]) for r, v in enumerate(steered)])


def _shift_metric(
    delta: np.ndarray,
    item_values: np.ndarray,
    steered: list[int],
    ids: np.ndarray,
    controls: list[np.ndarray] | None,
    described: str,
    cfg: MechanismsConfig,
    seed: int,
    note: str,
    layer: int,
) -> dict[str, Any]:
    """Mean over values of the steering shift; CI over statements (stratified by value); p: the shift
    against each control draw's shift (``edit.controls``; ``controls`` holds one delta matrix per draw)."""

    est, lo, hi = stats.bootstrap(
        _shift_of(delta, item_values, steered),
        len(ids),
        groups=ids,
        strata=item_values,
        n_boot=cfg.n_boot,
        seed=seed,
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
    return metric(est, lo, hi, p=p, n=len(ids), layer=layer, better="higher", note=note)


def _reference_tokens(lm: Any, read_point: int) -> np.ndarray:
    """Residuals (tokens, d) of the neutral reference text's own tokens at ``read_point``."""
    from valuescope.stimuli.reference import reference_texts

    ref = lm.residuals(reference_texts(), layers=[read_point], pool="all")
    return ref.values[:, 0][ref.mask].double().numpy()


def steering_step(ctx: UnitContext) -> Artifacts:
    from valuescope.stimuli.reference import reference_texts

    cfg = config_of(ctx)
    lm = ctx.lm
    rp = int(ctx.previous["vectors"].data["read_point"])
    items = questionnaire(ctx, steering=True)
    own = (items["questionnaire"] == "valuescope").to_numpy()
    rating = prepared_rating(lm, items)
    base = _expected(rating)  # unedited, in the same batches as every edited reading (and recorded)
    item_values = items["value"].to_numpy()
    ids = items["statement_id"].astype(str).to_numpy()
    meter = DamageMeter(lm, reference_texts()[: cfg.damage_texts])
    vectors = steering_vectors(ctx)
    steered = steered_values(cfg.steer_values)
    rng = np.random.default_rng(ctx.seed)
    codes = ctx.previous["neurons"].tensors["value_neurons"].numpy() if "neurons" in ctx.previous else None
    n_random_edits = (2 if cfg.random_matched else 1) * cfg.n_random
    n_edits = len(steered) * (
        len(VECTOR_KINDS) + n_random_edits + (1 + cfg.n_random if codes is not None else 0)
    )
    bar = tqdm(total=n_edits, desc="steering", unit="edit", disable=not ctx.progress, leave=False)

    deltas: dict[str, np.ndarray] = {}
    damage_rows: list[dict[str, Any]] = []
    alphas: dict[str, list[float]] = {}

    def run(kind: str, r: int, edit: Any, alpha: float | None, d: dict[str, float], matched: bool) -> None:
        """Read edit ``kind`` of steered value ``r`` (a row of ``steered``)."""
        with edit:
            deltas.setdefault(kind, np.zeros((len(steered), len(items))))[r] = _expected(rating) - base
        damage_rows.append(
            {
                "kind": kind,
                "value": VALUES[steered[r]],
                "alpha": alpha,
                "kl": d["kl_mean"],
                "kl_low": d["kl_ci_low"],
                "kl_high": d["kl_ci_high"],
                "ppl_ratio": d["ppl_ratio"],
                "matched": matched,
            }
        )
        bar.update(1)

    def steer(vec: np.ndarray) -> Callable[[float], Any]:
        t = torch.from_numpy(vec).float()
        return lambda a: lm.steer(t, [rp], alpha=a)

    for kind in VECTOR_KINDS:
        start = cfg.alpha
        for r, v in enumerate(steered):
            make = steer(vectors[kind][v])
            alpha, d, matched = match_alpha(make, meter, cfg, start)
            start = next_start(alpha, d, cfg)
            alphas.setdefault(kind, []).append(alpha)
            run(kind, r, make(alpha), alpha, d, matched)
    equal, matched_kinds = (
        [f"random_{k}" for k in range(cfg.n_random)],
        [f"random_matched_{k}" for k in range(cfg.n_random)],
    )
    if not cfg.random_matched:
        matched_kinds = []
    reference = _reference_tokens(lm, rp)
    for k in range(cfg.n_random):
        start = cfg.alpha
        for r in range(len(steered)):
            make = steer(ctl.covariance_directions(reference, 1, rng)[0])
            alpha = alphas["prompted"][r]
            edit = make(alpha)
            run(equal[k], r, edit, alpha, meter(edit), True)
            if cfg.random_matched:
                alpha, d, ok = match_alpha(make, meter, cfg, start)
                start = next_start(alpha, d, cfg)
                run(matched_kinds[k], r, make(alpha), alpha, d, ok)
    random_kinds = equal + matched_kinds
    deltas["random"] = np.mean([deltas[k] for k in equal], axis=0)
    if matched_kinds:
        deltas["random_matched"] = np.mean([deltas[k] for k in matched_kinds], axis=0)
    vector_controls = matched_kinds or equal
    vector_described = f"{cfg.n_random} random direction(s) per value drawn from the residual covariance " + (
        "with alpha matched to the same damage"
        if matched_kinds
        else "at the same alpha (not matched on damage)"
    )
    neuron_kinds = [f"random_neurons_{k}" for k in range(cfg.n_random)]
    if codes is not None:
        for r, v in enumerate(steered):
            chosen = {b: np.flatnonzero(codes[v, b] > 0).tolist() for b in range(codes.shape[1])}
            chosen = {b: ix for b, ix in chosen.items() if ix}
            edit = lm.scale_neurons(chosen, cfg.neuron_scale)
            run("neurons", r, edit, None, meter(edit), True)
            width = codes.shape[2]
            for kind in neuron_kinds:
                rand = {b: rng.choice(width, len(ix), replace=False).tolist() for b, ix in chosen.items()}
                edit = lm.scale_neurons(rand, cfg.neuron_scale)
                run(kind, r, edit, None, meter(edit), True)
        deltas["random_neurons"] = np.mean([deltas[k] for k in neuron_kinds], axis=0)
        random_kinds += neuron_kinds
    bar.close()
    damage = pd.DataFrame(damage_rows)
    metrics: dict[str, dict[str, Any]] = {}
    rows = []
    for kind, delta in deltas.items():
        if kind in random_kinds:
            continue
        compare: list[np.ndarray] | None = None
        described = ""
        if kind in VECTOR_KINDS:
            compare, described = [deltas[k][:, own] for k in vector_controls], vector_described
        elif kind == "neurons":
            compare = [deltas[k][:, own] for k in neuron_kinds]
            described = f"{cfg.n_random} draw(s) of as many random neurons per block, scaled the same"
        members = {"random": equal, "random_matched": matched_kinds, "random_neurons": neuron_kinds}.get(
            kind, [kind]
        )
        kl = damage[damage["kind"].isin(members)]
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
        metrics[f"steering_shift_{kind}"] = _shift_metric(
            delta[:, own], item_values[own], steered, ids[own], compare, described, cfg, ctx.seed, note, rp
        )
        per_value = _shifts(delta[:, own], item_values[own], steered)
        neighbour = np.array(
            [
                mech.neighbour_response(mech.value_deltas(delta[r, own], item_values[own], VALUES), v)
                for r, v in enumerate(steered)
            ]
        )
        for r, v in enumerate(steered):
            rows.append(
                {
                    "kind": kind,
                    "value": VALUES[v],
                    "shift": per_value[r],
                    "neighbour_r": neighbour[r],
                    "pvq40_shift": _pvq_shift(delta[r], item_values, ~own, VALUES[v]),
                }
            )
        if kind in ("intrinsic", "prompted", "shared"):
            est, lo, hi = stats.bootstrap(
                _mean_of(neighbour, nan=True), len(steered), n_boot=cfg.n_boot, seed=ctx.seed
            )
            metrics[f"steering_neighbour_response_{kind}"] = metric(
                est,
                lo,
                hi,
                n=len(steered),
                layer=rp,
                better="higher",
                note="Pearson r, over the nine other values, between their self-rating change and "
                "their closeness "
                "on the circle to the steered value (positive: neighbours rise, opposites fall); CI "
                "over values",
            )
    if (~own).any():
        for kind in ("intrinsic", "prompted"):
            delta = deltas[kind]
            est, lo, hi = stats.bootstrap(
                _shift_of(delta[:, ~own], item_values[~own], steered),
                int((~own).sum()),
                groups=ids[~own],
                strata=item_values[~own],
                n_boot=cfg.n_boot,
                seed=ctx.seed,
            )
            metrics[f"steering_shift_{kind}_pvq40"] = metric(
                est,
                lo,
                hi,
                n=int((~own).sum()),
                layer=rp,
                better="higher",
                note="the same shift on ValueBench's PVQ40 items (a second questionnaire, not used "
                "to choose alpha)",
            )
    else:
        why = (
            "PVQ40 was not read under steering: set steer_pvq40 (on in the full profile)"
            if not cfg.steer_pvq40
            else f"needs {VALUEBENCH_FILE} in the data folder"
        )
        for kind in ("intrinsic", "prompted"):
            metrics[f"steering_shift_{kind}_pvq40"] = missing(why)
    for kind in ("intrinsic_only", "prompted_only"):
        mean_delta = deltas[kind][:, own].mean(axis=0)
        est, lo, hi = stats.bootstrap(
            _mean_of(mean_delta),
            len(mean_delta),
            groups=ids[own],
            strata=item_values[own],
            n_boot=cfg.n_boot,
            seed=ctx.seed,
        )
        metrics[f"steering_general_{kind}"] = metric(
            est,
            lo,
            hi,
            n=len(mean_delta),
            layer=rp,
            note="mean rating change over every statement (all ten values), averaged over the "
            f"{len(steered)} steered values: a rise of everything is compliance rather than a value",
        )
    gap = _shifts(deltas["prompted"][:, own], item_values[own], steered) - _shifts(
        deltas["intrinsic"][:, own], item_values[own], steered
    )
    diff = stats.paired_difference(
        gap, np.zeros_like(gap), n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=ctx.seed
    )
    metrics["steering_shift_prompted_minus_intrinsic"] = diff.as_metric(
        layer=rp, note="paired over values; the reference paper finds prompted vectors steer more strongly"
    )
    delta_rows = []
    for kind, delta in deltas.items():
        for r, v in enumerate(steered):
            delta_rows.append(
                pd.DataFrame(
                    {
                        "kind": kind,
                        "steered_value": VALUES[v],
                        "statement_id": ids,
                        "item_value": item_values,
                        "delta": delta[r],
                    }
                )
            )
    return Artifacts(
        tables={
            "steering": pd.DataFrame(rows),
            "steering_damage": damage,
            "steering_deltas": pd.concat(delta_rows, ignore_index=True),
        },
        metrics=metrics,
        data={"alphas": alphas, "steered_values": [VALUES[v] for v in steered]},
    )


def _pvq_shift(delta: np.ndarray, item_values: np.ndarray, rows: np.ndarray, value: str) -> float | None:
    if not rows.any():
        return None
    return float(mech.steering_shift(delta[rows], item_values[rows], value))


# ----------------------------------------------------------------------------------------------- diversity


def diversity_step(ctx: UnitContext) -> Artifacts:
    from valuescope.readout.sentence_embeddings import sentence_embeddings

    cfg = config_of(ctx)
    lm = ctx.lm
    rp = int(ctx.previous["vectors"].data["read_point"])
    alphas: dict[str, list[float]] = ctx.previous["steering"].data["alphas"]
    steered: list[str] = ctx.previous["steering"].data.get("steered_values", VALUES)
    rows_of = [VALUES.index(value) for value in steered]
    queries = stimuli.load_queries(str(ctx.data.use(cfg.queries)) if cfg.queries else None)
    fresh = queries.iloc[cfg.n_queries : cfg.n_queries + cfg.diversity_queries]
    held_out = len(fresh) == cfg.diversity_queries
    chosen = fresh if held_out else queries.head(cfg.diversity_queries)
    prompts = [render(lm, q, None) for q in chosen["query"]]
    vectors = steering_vectors(ctx)
    gen_kw: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "seed": ctx.seed,
        "stop": None if lm.instruct else STOP,
        "chat": False,
        "progress": False,
    }
    records: list[dict[str, Any]] = []
    texts: dict[tuple[str, str], list[str]] = {}
    base = [t.strip() for t in lm.generate(prompts, **gen_kw)]
    texts[("none", "")] = base
    n = len(prompts)
    for kind in DIVERSITY_KINDS:
        # every steered value's vector in one batched generation: prompt block r is steered with the
        # r-th steered value
        each = torch.from_numpy(np.repeat(vectors[kind][rows_of], n, axis=0)).float()
        with lm.steer_each(each, [rp], alphas=np.repeat(alphas[kind], n).tolist()):
            outs = [t.strip() for t in lm.generate(prompts * len(steered), **gen_kw)]
        for r, value in enumerate(steered):
            texts[(kind, value)] = outs[r * n : (r + 1) * n]
    for (kind, value), outs in texts.items():
        for qid, q, t in zip(chosen["query_id"], chosen["query"], outs, strict=True):
            records.append(
                {
                    "kind": kind,
                    "value": value,
                    "query_id": qid,
                    "query": q,
                    "response": t,
                    "alpha": alphas[kind][steered.index(value)] if value else 0.0,
                }
            )
    table = pd.DataFrame(records)
    nonempty = table["response"].str.strip() != ""
    emb = np.zeros((len(table), 384))
    if nonempty.any():
        emb[nonempty.to_numpy()] = sentence_embeddings(list(table.loc[nonempty, "response"]))
    per_set = []
    for (kind, value), _ in texts.items():
        rows = table[(table["kind"] == kind) & (table["value"] == value)]
        good = rows[rows["response"].str.strip() != ""]
        try:
            distinct = mech.distinct_n(list(good["response"]), 2)
        except ValueError:
            distinct = float("nan")
        spread = mech.embedding_diversity(emb[good.index.to_numpy()]) if len(good) >= 2 else float("nan")
        per_set.append(
            {
                "kind": kind,
                "value": value,
                "n_answers": len(good),
                "distinct2": distinct,
                "embedding_diversity": spread,
            }
        )
    sets = pd.DataFrame(per_set)
    unsteered = sets[sets["kind"] == "none"].iloc[0]
    metrics: dict[str, dict[str, Any]] = {}
    n_q = len(chosen)
    for measure, label in (
        ("distinct2", "Distinct-2 (unique word bigrams / all bigrams)"),
        ("embedding_diversity", "mean pairwise cosine distance of all-MiniLM-L6-v2 embeddings"),
    ):
        by_kind = {
            k: sets[sets["kind"] == k].set_index("value")[measure].reindex(steered).to_numpy()
            for k in DIVERSITY_KINDS
        }
        for kind, x in by_kind.items():
            finite = x[np.isfinite(x)]
            if len(finite) < 2:
                metrics[f"{measure}_{kind}"] = missing(
                    f"fewer than two values with non-empty answers under the {kind} vectors"
                )
                continue
            est, lo, hi = stats.bootstrap(_mean_of(finite), len(finite), n_boot=cfg.n_boot, seed=ctx.seed)
            metrics[f"{measure}_{kind}"] = metric(
                est,
                lo,
                hi,
                n=len(finite),
                layer=rp,
                better="higher",
                note=f"{label} of the {n_q} answers per value steered with its {kind} vector at "
                "matched damage, "
                f"mean over values (CI over values); unsteered answers {unsteered[measure]:.3f}"
                + ("" if held_out else "; the queries were also used to fit the vectors"),
            )
        both = np.isfinite(by_kind["intrinsic"]) & np.isfinite(by_kind["prompted"])
        if both.sum() >= 2:
            diff = stats.paired_difference(
                by_kind["intrinsic"][both],
                by_kind["prompted"][both],
                n_boot=cfg.n_boot,
                n_perm=cfg.n_perm,
                seed=ctx.seed,
            )
            metrics[f"{measure}_intrinsic_minus_prompted"] = diff.as_metric(
                layer=rp,
                note="paired over values; the reference paper finds intrinsic vectors give more "
                "diverse answers",
            )
    return Artifacts(
        tables={"diversity": sets},
        generations={"steered_generations": records},
        metrics=metrics,
    )
