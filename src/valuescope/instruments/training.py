"""Train the shipped heads from third-party human labels (``valuescope instruments train``).

- ``touche23-<encoder>``: the value labeller's 20 category heads, on Touché23's training split only
  (its validation split stays for :mod:`valuescope.instruments.validation`).
- ``valuebench-polarity-<encoder>``: the projective scorer's polarity head, on every ValueBench item
  (its validity is the grouped-by-inventory cross-validation of the same recipe).

Each head records the files it was trained on (with SHA-256), the split, the rows and its settings.
"""

from __future__ import annotations

from pathlib import Path

from valuescope.data.touche import SCHWARTZ_OF, TOUCHE_DIR, load_touche
from valuescope.data.valuebench import VALUEBENCH_FILE, load_value_orientation
from valuescope.files import sha256_file
from valuescope.instruments.calibration import fit_isotonic, out_of_fold_logits
from valuescope.instruments.heads import LinearHead, fit_logistic
from valuescope.instruments.polarity import fit_polarity
from valuescope.tensors import write_bytes_atomic


def _files(*paths: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in paths}


def train_labeller(data: Path, *, encoder_key: str = "minilm", C: float = 0.5) -> LinearHead:
    """The 20 Touché23 category heads, trained on the training split."""
    from valuescope.instruments.sentence_embeddings import sentence_embeddings

    folder = data / TOUCHE_DIR
    train = load_touche(folder, "training")
    categories = list(SCHWARTZ_OF)
    X = sentence_embeddings(list(train["text"]), cache=True, encoder_key=encoder_key, by_length=True)
    Y = train[categories].to_numpy()
    calibration = fit_isotonic(out_of_fold_logits(X, Y, categories, encoder=encoder_key, C=C), Y, categories)
    record = {
        "dataset": "Touché23-ValueEval (zenodo 10.5281/zenodo.6814563)",
        "split": "training",
        "rows": len(train),
        "files": _files(folder / "arguments-training.tsv", folder / "labels-training.tsv"),
        "text": "conclusion. stance: premise",
        "calibration": calibration.as_record(),
        "calibration_fit": "isotonic per category on 5-fold out-of-fold logits of the training split",
    }
    return fit_logistic(X, Y, categories, encoder=encoder_key, C=C, record=record)


def train_polarity(data: Path, *, encoder_key: str = "minilm", C: float = 0.5) -> LinearHead:
    """The polarity head, trained on every keyed ValueBench item."""
    path = data / VALUEBENCH_FILE
    items = load_value_orientation(path)
    record = {
        "dataset": "ValueBench value_orientation.csv (Value4AI/ValueBench)",
        "split": "all items",
        "rows": len(items),
        "files": _files(path),
        "inventories": int(items["questionnaire"].nunique()),
    }
    affirms = (items["agreement"] > 0).to_numpy(dtype=bool)
    return fit_polarity(list(items["item"]), list(items["value"]), list(affirms), encoder_key=encoder_key,
                        C=C, record=record)  # fmt: skip


def train_all(data: Path, out: Path, *, encoder_key: str = "minilm", n_boot: int = 1000) -> list[Path]:
    """Both heads, written to ``out`` as ``touche23-<encoder>`` and ``valuebench-polarity-<encoder>``,
    and their validity table (``validation.validate_all`` on the new heads) as ``validity.csv``: a run
    without a data folder reads the shipped heads' gate verdicts from it."""
    from valuescope.instruments.validation import SHIPPED_VALIDITY, validate_all

    out.mkdir(parents=True, exist_ok=True)
    written = [
        train_labeller(data, encoder_key=encoder_key).save(out / f"touche23-{encoder_key}.safetensors"),
        train_polarity(data, encoder_key=encoder_key).save(
            out / f"valuebench-polarity-{encoder_key}.safetensors"
        ),
    ]
    table = validate_all(data, heads=out, encoder_key=encoder_key, n_boot=n_boot)
    written.append(write_bytes_atomic(out / SHIPPED_VALIDITY, table.to_csv(index=False).encode()))
    return written
