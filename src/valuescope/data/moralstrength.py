"""MoralStrength (Araque, Gatti & Kalimeri): crowd-rated moral words, one TSV per foundation, as moral items.

Each file (``care``, ``fairness``, ``loyalty``, ``authority``, ``purity``.tsv) lists words with the mean
rating ``EXPRESSED_MORAL`` on a 1-9 scale: 1 is the vice pole (harm, cheating, betrayal, subversion,
degradation), 9 the virtue pole. Version 1.1 (``annotations/v1.1``, header ``WORD``) lists each
inflection on its own row with its lemma's rating; the original files (``annotations``, header
``LEMMA``) list lemmas. The PyPI package ``moralstrength`` ships both, and pickles, which this module
never opens; it never imports the package either (that pulls in spaCy), it only locates its folder.
"""

from __future__ import annotations

import importlib.util
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from valuescope.data.csvfile import StimulusError, read_text
from valuescope.data.moral_items import (
    FOUNDATIONS,
    ITEM_COLUMNS,
    MULTI_FOUNDATION_RULE,
    VECTOR_COLUMNS,
    LoadedItems,
    canonical_foundation,
    check_items,
    is_word,
    lemma_groups,
)

MORALSTRENGTH_FILES = ("care", "fairness", "loyalty", "authority", "purity")
"""The lexicon's file stems; ``purity`` is Moral Foundations Theory's sanctity."""
INSTALL_HINT = "pip install --no-deps moralstrength==0.2.13"
_HEADERS = {"1.1": "WORD", "original": "LEMMA"}
_FOLDERS = {"1.1": ("annotations/v1.1", "."), "original": ("annotations", ".")}
_SHOWN_ROWS = 8


def _normal(cell: str) -> str:
    return unicodedata.normalize("NFKC", cell).strip().lower()


def _five(folder: Path) -> bool:
    return all((folder / f"{name}.tsv").is_file() for name in MORALSTRENGTH_FILES)


def moralstrength_dir(path: str | Path | None = None) -> Path:
    """The lexicon folder: ``path``, or the installed ``moralstrength`` package's folder if None.

    The five TSVs must lie directly in it, under ``annotations/v1.1`` or under ``annotations``. The
    package is located with ``importlib.util.find_spec``, which does not run it.
    """
    files = ", ".join(f"{name}.tsv" for name in MORALSTRENGTH_FILES)
    if path is None:
        spec = importlib.util.find_spec("moralstrength")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise FileNotFoundError(
                f"the moralstrength package is not installed; run `{INSTALL_HINT}` or pass the folder "
                f"holding {files}"
            )
        root = Path(locations[0])
    else:
        root = Path(path)
    if not any(_five(root / sub) for sub in ("annotations/v1.1", "annotations", ".")):
        where = "the installed moralstrength package" if path is None else str(root)
        raise FileNotFoundError(
            f"{where} lacks the MoralStrength lexicon: expected {files} directly in {root}, under "
            f"{root / 'annotations' / 'v1.1'} or under {root / 'annotations'}; run `{INSTALL_HINT}` or "
            "pass that folder"
        )
    return root


def _lexicon_files(root: Path, version: str) -> dict[str, Path]:
    for sub in _FOLDERS[version]:
        if _five(root / sub):
            return {name: root / sub / f"{name}.tsv" for name in MORALSTRENGTH_FILES}
    raise FileNotFoundError(
        f"{root}: no folder with the five version-{version} TSVs (looked in "
        f"{', '.join(str(root / s) for s in _FOLDERS[version])}); pass version='1.1' or 'original' to match"
    )


@dataclass
class _File:
    """One TSV, parsed: ``{word: [(line, rating)]}``, plus rows that could not be read."""

    label: str
    ratings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    bad_rating: dict[str, list[int]] = field(default_factory=dict)
    not_words: dict[str, int] = field(default_factory=dict)
    malformed: list[int] = field(default_factory=list)


def _read(path: Path, label: str, version: str) -> _File:
    header_word = _HEADERS[version]
    expected = [header_word, "EXPRESSED_MORAL"]
    lines = read_text(path).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    header = [c.strip() for c in lines[start].split("\t")] if start is not None else []
    if header != expected:
        other = next((v for v, h in _HEADERS.items() if h != header_word and header[:1] == [h]), None)
        fix = f"this looks like version {other!r}; pass version={other!r}" if other else "check the file"
        raise StimulusError(
            f"{path}: row {(start or 0) + 1} (header): {chr(9).join(header)!r}, expected "
            f"{header_word}<TAB>EXPRESSED_MORAL (MoralStrength version {version}); {fix}"
        )
    parsed = _File(label)
    for i in range((start or 0) + 1, len(lines)):
        if not lines[i].strip():
            continue
        line = i + 1
        cells = lines[i].split("\t")
        if len(cells) != 2:
            parsed.malformed.append(line)
            continue
        word = _normal(cells[0])
        if not is_word(word):
            parsed.not_words.setdefault(word, line)
            continue
        try:
            rating = float(cells[1])
        except ValueError:
            rating = math.nan
        if not math.isfinite(rating) or not 1.0 <= rating <= 9.0:
            parsed.bad_rating.setdefault(word, []).append(line)
        else:
            parsed.ratings.setdefault(word, []).append((line, rating))
    return parsed


def _rows(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(lines)[:_SHOWN_ROWS])
    return f"row{'s' if len(lines) > 1 else ''} {shown}{', ...' if len(lines) > _SHOWN_ROWS else ''}"


def load_moralstrength(
    path: str | Path | None = None,
    *,
    version: Literal["1.1", "original"] = "1.1",
    multi: Literal["primary", "drop"] = "primary",
    midpoint: float = 5.0,
) -> LoadedItems:
    """MoralStrength words as moral items (one per word), in the :data:`ITEM_COLUMNS` schema.

    Per foundation rated: the pole is virtue above ``midpoint`` and vice below; a rating exactly at the
    midpoint has no pole and is ignored; typicality = |rating - midpoint| / (largest distance the 1-9
    scale allows, 4 at the midpoint 5), so in (0, 1]; the vector entry ``<foundation>_<pole>`` holds that
    typicality. :data:`MULTI_FOUNDATION_RULE` picks the primary foundation (``multi="drop"`` removes words
    rated under several). Version 1.1 inflections share a lemma (:func:`lemma_groups` by stem alone, even
    where v1.1 rates them differently, so no lemma straddles a split; keyed by the original lemma where
    the package's original files list one). ``dropped`` counts words (each
    distinct string once): strings that are not words, unreadable rows, and words left with no usable
    rating, the reason naming the file and rows. Raises :class:`StimulusError` on a wrong header or if no
    word is usable; FileNotFoundError if the lexicon is missing.
    """
    if version not in _HEADERS:
        raise ValueError(f"version={version!r}; pass '1.1' or 'original'")
    if multi not in ("primary", "drop"):
        raise ValueError(f"multi={multi!r}; pass 'primary' or 'drop'")
    if not 1.0 < midpoint < 9.0:
        raise ValueError(f"midpoint={midpoint}; it must lie strictly inside the 1-9 rating scale")
    scale = max(midpoint - 1.0, 9.0 - midpoint)
    root = moralstrength_dir(path)
    paths = _lexicon_files(root, version)
    files: dict[str, _File] = {}
    for name, file_path in paths.items():
        foundation = canonical_foundation(name)
        assert foundation is not None
        label = file_path.relative_to(root).as_posix()
        files[foundation] = _read(file_path, label, version)
    source = f"moralstrength-{'v1.1' if version == '1.1' else 'original'}"

    dropped: dict[str, int] = {}
    not_words = {w for f in files.values() for w in f.not_words}
    if not_words:
        dropped["not a word (letters, apostrophes, inner hyphens only)"] = len(not_words)
    for f in files.values():
        if f.malformed:
            dropped[f"not WORD<TAB>RATING in {f.label} ({_rows(f.malformed)})"] = len(f.malformed)

    words = sorted({w for f in files.values() for w in (*f.ratings, *f.bad_rating)})
    usable: dict[str, dict[str, float]] = {}
    no_rating: dict[tuple[int, int, str], tuple[list[str], list[int]]] = {}  # -> (words dropped, rows)
    counts = {"bad": 0, "conflict": 0, "midpoint": 0}  # ignored ratings of words that were kept
    midpoint_words = 0
    for word in words:
        ratings: dict[str, float] = {}
        problems: list[tuple[int, int, str, list[int]]] = []  # (rank, file, reason, rows)
        for k, foundation in enumerate(FOUNDATIONS):
            f = files[foundation]
            if word in f.bad_rating:
                problems.append((0, k, f"rating not a number in [1, 9] in {f.label}", f.bad_rating[word]))
            rows = f.ratings.get(word, [])
            values = {round(r, 9) for _, r in rows}
            if len(values) > 1:
                reason = f"rated twice with different ratings in {f.label}"
                problems.append((1, k, reason, [n for n, _ in rows]))
            elif values and rows[0][1] == midpoint:
                problems.append((2, k, "rated at the midpoint", []))
            elif values:
                ratings[foundation] = rows[0][1]
        if ratings:
            usable[word] = ratings
            for rank, *_ in problems:
                counts[("bad", "conflict", "midpoint")[rank]] += 1
            continue
        rank, k, reason, lines = min(problems, key=lambda p: p[:2])
        if rank == 2:
            midpoint_words += 1
        else:
            dropped_words, dropped_lines = no_rating.setdefault((rank, k, reason), ([], []))
            dropped_words.append(word)
            dropped_lines.extend(lines)
    for (_, _, reason), (dropped_words, dropped_lines) in sorted(no_rating.items()):
        dropped[f"{reason} ({_rows(dropped_lines)})"] = len(dropped_words)
    if midpoint_words:
        dropped["rated at the midpoint"] = midpoint_words

    multi_words = [w for w, r in usable.items() if len(r) > 1]
    if multi == "drop" and multi_words:
        dropped["rated under more than one foundation (multi='drop')"] = len(multi_words)
        usable = {w: r for w, r in usable.items() if len(r) == 1}
    if not usable:
        raise StimulusError(
            f"{root}: no usable word in the five MoralStrength {version} files; "
            f"dropped: {', '.join(f'{k} ({v})' for k, v in dropped.items()) or 'nothing'}; "
            "check the files or pass the folder of the real lexicon"
        )

    kept_words = sorted(usable)
    known: set[str] = set()
    lemma_note = "each original-file entry is its own lemma."
    if version == "1.1":
        known, lemma_note = _original_lemmas(root)
        lemma_of = lemma_groups(kept_words, known_lemmas=known)
    else:
        lemma_of = {w: w for w in kept_words}

    rows_out = []
    opposite = 0
    for word in kept_words:
        ratings = usable[word]
        primary = max(FOUNDATIONS, key=lambda f: abs(ratings[f] - midpoint) if f in ratings else -1.0)
        vector = dict.fromkeys(VECTOR_COLUMNS, 0.0)
        for foundation, rating in ratings.items():
            pole = "virtue" if rating > midpoint else "vice"
            vector[f"{foundation}_{pole}"] = abs(rating - midpoint) / scale
        if len({r > midpoint for r in ratings.values()}) > 1:
            opposite += 1
        rows_out.append(
            {
                "item_id": f"ms:{word}",
                "text": word,
                "lemma": lemma_of[word],
                "kind": "virtue" if ratings[primary] > midpoint else "vice",
                "foundation": primary,
                "typicality": abs(ratings[primary] - midpoint) / scale,
                **vector,
                "n_foundations": len(ratings),
                "source": source,
            }
        )
    items = check_items(pd.DataFrame(rows_out, columns=list(ITEM_COLUMNS)), source)
    n_lemmas = items["lemma"].nunique()
    ignored = ", ".join(
        f"{n} {what}"
        for what, n in (
            ("ratings at the midpoint", counts["midpoint"]),
            ("conflicting duplicate ratings", counts["conflict"]),
            ("unreadable ratings", counts["bad"]),
        )
        if n
    )
    construction = (
        f"MoralStrength {version} from {root}: each word's mean crowd rating (1-9; 1 = the vice pole, "
        f"9 = the virtue pole) under each foundation whose file lists it (purity is sanctity). Pole: virtue "
        f"above the midpoint {midpoint:g}, vice below; a rating at the midpoint carries no pole and is "
        f"ignored. Typicality = |rating - {midpoint:g}| / {scale:g}, in (0, 1]. Vector: the entry "
        f"<foundation>_<pole> holds that foundation's typicality, the opposite pole and unrated foundations "
        f"0; n_foundations counts the foundations with a polar rating. {MULTI_FOUNDATION_RULE} "
        f"{len(multi_words)} kept words had polar ratings under more than one foundation "
        f"({'dropped' if multi == 'drop' else 'kept'}); {opposite} of those kept have opposite poles. "
        f"Ignored ratings of words kept under another foundation: {ignored or 'none'}. Lemmas: "
        f"{lemma_note} {len(items)} words in {n_lemmas} lemmas. The ratings are of isolated words, "
        "by crowd annotators, not of actions in context."
    )
    return LoadedItems(items, source, len(items), dropped, construction, unit="words")


def _original_lemmas(root: Path) -> tuple[set[str], str]:
    how = (
        "inflections grouped by a light suffix-stripping stem (lemma_groups), whatever their ratings, so "
        "that no lemma is on both sides of a split; the key is"
    )
    try:
        paths = {name: root / "annotations" / f"{name}.tsv" for name in MORALSTRENGTH_FILES}
        if not all(p.is_file() for p in paths.values()):
            raise FileNotFoundError
        known = {w for name, p in paths.items() for w in _read(p, name, "original").ratings}
    except (FileNotFoundError, StimulusError):
        return set(), f"{how} the group's shortest word (no original lemma files beside the v1.1 ones)."
    return known, f"{how} the original-file lemma in the group if any, else the group's shortest word."
