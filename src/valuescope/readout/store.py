"""Opt-in on-disk store of residual readouts, keyed by everything that determines the values.

Layout under the store ``root``::

    root/<key>.lock                      file lock: one writer per entry at a time
    root/<key>/manifest.json             what the entry holds, and every complete shard's sha256
    root/<key>/shard-00000.safetensors   items [0, shard_size) in input order
    root/<key>/shard-00001.safetensors   items [shard_size, 2 * shard_size) ...

``<key>`` hashes the model weights (and dtype), the tokenizer, the items (texts, contexts),
any chat template, the read points, the pooling and every active intervention's fingerprint,
so a changed input never meets stale values. Shards are written atomically and recorded in the
manifest (also written atomically) only once complete, so a killed run resumes from the last
recorded shard; a shard whose bytes no longer match its checksum is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from filelock import FileLock
from tqdm.auto import tqdm

from valuescope.files import read_json_object, sha256_file
from valuescope.model import Item, Site, TokenReadout
from valuescope.models.hooks import normalize_read_points
from valuescope.readout.batching import validate_items
from valuescope.readout.residuals import DEFAULT_BATCH_SIZE, PROGRESS_MIN_ITEMS, check_pool
from valuescope.tensors import save_tensors, tensors_from_bytes, write_bytes_atomic
from valuescope.version import __version__

if TYPE_CHECKING:
    from valuescope.model import LocalModel

SHARD_SIZE = 1024
"""Items per shard unless ``shard_size`` says otherwise (an existing entry keeps its own)."""
STORE_FORMAT = 1
MANIFEST = "manifest.json"

Readout = torch.Tensor | TokenReadout


# --------------------------------------------------------------------------- keys
def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of the tokenizer's identity: its full serialization (vocab, merges, normalizer,
    post-processor, added tokens) when it has a fast backend, else its class and vocab; plus its
    special tokens."""
    h = hashlib.sha256()
    h.update(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        h.update(b"\0backend\0" + backend.to_str().encode())
    else:
        vocab = tokenizer.get_vocab()
        h.update(b"\0vocab\0" + json.dumps(sorted(vocab.items())).encode())
    special = {
        "special_tokens_map": getattr(tokenizer, "special_tokens_map", None),
        "bos_token_id": getattr(tokenizer, "bos_token_id", None),
        "eos_token_id": getattr(tokenizer, "eos_token_id", None),
        "pad_token_id": getattr(tokenizer, "pad_token_id", None),
        "add_bos_token": getattr(tokenizer, "add_bos_token", None),
        "add_eos_token": getattr(tokenizer, "add_eos_token", None),
    }
    h.update(b"\0special\0" + json.dumps(special, sort_keys=True, default=str).encode())
    return h.hexdigest()


def items_digest(items: Sequence[Item]) -> str:
    """SHA-256 over the items in order; a context and its text are kept apart."""
    h = hashlib.sha256()
    for item in items:
        context, text = (None, item) if isinstance(item, str) else item
        h.update(json.dumps([context, text]).encode())
        h.update(b"\n")
    return h.hexdigest()


def store_spec(
    lm: LocalModel,
    items: Sequence[Item],
    read_points: Sequence[int],
    pool: str,
    chat_template: str | None = None,
) -> dict[str, Any]:
    """Everything the stored values depend on, as JSON; its hash is the entry's key."""
    dtype = next(lm.model.parameters()).dtype
    template = None if chat_template is None else hashlib.sha256(chat_template.encode()).hexdigest()
    return {
        "format": STORE_FORMAT,
        "readout": "residual",
        "weights_sha256": lm.weights_hash,
        "dtype": str(dtype),
        "tokenizer": tokenizer_fingerprint(lm.tokenizer),
        "chat_template": template,
        "items": items_digest(items),
        "n": len(items),
        "read_points": [int(rp) for rp in read_points],
        "pool": pool,
        "interventions": [iv.fingerprint() for iv in lm.active_interventions],
    }


def spec_key(spec: dict[str, Any]) -> str:
    """The entry key (32 hex digits) of a ``store_spec``."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def store_key(
    lm: LocalModel,
    texts: Sequence[Item],
    layers: Sequence[int] | int,
    pool: str = "last",
    chat_template: str | None = None,
) -> str:
    """The key of the entry that ``lm.residuals(texts, layers, pool, store=root)`` uses: ``root/<key>``."""
    check_pool(pool)
    items = validate_items(texts)
    read_points = normalize_read_points(lm.layout, layers)
    return spec_key(store_spec(lm, items, read_points, pool, chat_template))


# --------------------------------------------------------------------------- writing
def cached_residuals(
    lm: LocalModel,
    items: Sequence[Item],
    read_points: Sequence[int],
    pool: str,
    root: str | Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
    *,
    shard_size: int | None = None,
    chat_template: str | None = None,
) -> Readout:
    """``lm.residuals`` through the store at ``root``: reuse complete shards, compute the rest.

    Only one shard of new results is held in memory while writing; the result is then assembled
    from the files, each checked against its recorded sha256 (a mismatch is recomputed).
    """
    check_pool(pool)
    items = validate_items(items)
    read_points = normalize_read_points(lm.layout, list(read_points))
    size = SHARD_SIZE if shard_size is None else int(shard_size)
    if size < 1:
        raise ValueError(f"shard_size={shard_size} must be a positive number of items")
    spec = store_spec(lm, items, read_points, pool, chat_template)
    key = spec_key(spec)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key
    sites = [Site("residual", rp) for rp in read_points]

    def compute(index: int, manifest: dict[str, Any], show: bool | None) -> Readout:
        start, stop = _bounds(manifest, index)
        result = lm.read(items[start:stop], sites, pool, batch_size, show, "residuals")
        _write_shard(entry, manifest, index, result)
        return result

    with FileLock(str(root / f"{key}.lock")):
        entry.mkdir(exist_ok=True)
        for tmp in entry.glob(".*.tmp"):  # left by a killed writer; we hold the lock
            tmp.unlink(missing_ok=True)
        manifest = _load_manifest(entry, key, spec) or _new_manifest(key, spec, size)
        n_shards = _n_shards(manifest)
        done = {rec["index"] for rec in manifest["shards"] if _looks_complete(entry, rec)}
        manifest["shards"] = [rec for rec in manifest["shards"] if rec["index"] in done]
        todo = [i for i in range(n_shards) if i not in done]
        show = progress if progress is not None else len(items) >= PROGRESS_MIN_ITEMS
        inner = progress if len(todo) == 1 else False
        for index in tqdm(todo, desc="residual shards", unit="shard", disable=not show or len(todo) < 2):
            compute(index, manifest, inner)  # result dropped at once: memory stays at one shard
        return _assemble(entry, manifest, lambda i: compute(i, manifest, False))


def _new_manifest(key: str, spec: dict[str, Any], shard_size: int) -> dict[str, Any]:

    return {
        "format": STORE_FORMAT,
        "key": key,
        "n": spec["n"],
        "shard_size": shard_size,
        "n_shards": math.ceil(spec["n"] / shard_size),
        "pool": spec["pool"],
        "read_points": spec["read_points"],
        "complete": False,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "valuescope_version": __version__,
        "spec": spec,
        "shards": [],
    }


def _load_manifest(entry: Path, key: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The entry's manifest if it is readable and describes this request, else None (start over)."""
    path = entry / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    try:
        size = manifest["shard_size"]
        ok = (
            manifest["format"] == STORE_FORMAT
            and manifest["key"] == key
            and manifest["n"] == spec["n"]
            and manifest["pool"] == spec["pool"]
            and manifest["read_points"] == spec["read_points"]
            and isinstance(size, int)
            and size >= 1
            and manifest["n_shards"] == math.ceil(spec["n"] / size)
            and isinstance(manifest["shards"], list)
            and all(_valid_record(rec, manifest) for rec in manifest["shards"])
        )
    except (KeyError, TypeError):
        return None
    return manifest if ok else None


def _valid_record(rec: Any, manifest: dict[str, Any]) -> bool:
    if not isinstance(rec, dict) or not isinstance(rec.get("index"), int):
        return False
    if not 0 <= rec["index"] < manifest["n_shards"]:
        return False
    start, stop = _bounds(manifest, rec["index"])
    return (
        rec.get("start") == start
        and rec.get("stop") == stop
        and rec.get("file") == _shard_name(rec["index"])
        and isinstance(rec.get("sha256"), str)
        and isinstance(rec.get("bytes"), int)
        and isinstance(rec.get("shape"), list)
    )


def _looks_complete(entry: Path, rec: dict[str, Any]) -> bool:
    """Cheap check (file present, size as recorded); the checksum is verified when the shard is read."""
    try:
        return bool((entry / rec["file"]).stat().st_size == rec["bytes"])
    except OSError:
        return False


def _n_shards(manifest: dict[str, Any]) -> int:
    return int(manifest["n_shards"])


def _bounds(manifest: dict[str, Any], index: int) -> tuple[int, int]:
    size = int(manifest["shard_size"])
    return index * size, min(int(manifest["n"]), (index + 1) * size)


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def _write_shard(entry: Path, manifest: dict[str, Any], index: int, result: Readout) -> None:
    """Write one shard atomically, then record it (with its sha256) in the manifest, atomically."""
    start, stop = _bounds(manifest, index)
    if isinstance(result, TokenReadout):
        tensors = {"values": result.values, "mask": result.mask}
    else:
        tensors = {"values": result}
    if tensors["values"].shape[0] != stop - start:
        raise RuntimeError(f"shard {index}: got {tensors['values'].shape[0]} rows for {stop - start} items")
    path = entry / _shard_name(index)
    meta = {"key": manifest["key"], "index": index, "start": start, "stop": stop, "pool": manifest["pool"]}
    save_tensors(path, tensors, meta)
    rec = {
        "index": index,
        "file": path.name,
        "start": start,
        "stop": stop,
        "shape": list(tensors["values"].shape),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    manifest["shards"] = sorted(
        [r for r in manifest["shards"] if r["index"] != index] + [rec], key=lambda r: r["index"]
    )
    manifest["complete"] = len(manifest["shards"]) == _n_shards(manifest)
    _write_manifest(entry, manifest)


def _write_manifest(entry: Path, manifest: dict[str, Any]) -> None:
    write_bytes_atomic(entry / MANIFEST, (json.dumps(manifest, indent=1, default=str) + "\n").encode())


# --------------------------------------------------------------------------- reading
def _read_shard(entry: Path, rec: dict[str, Any], pool: str) -> Readout | None:
    """A recorded shard's values, or None if the file is missing, altered or malformed."""
    try:
        data = (entry / rec["file"]).read_bytes()
    except OSError:
        return None
    if len(data) != rec["bytes"] or hashlib.sha256(data).hexdigest() != rec["sha256"]:
        return None
    try:
        tensors, _ = tensors_from_bytes(data, str(entry / rec["file"]))
    except ValueError:
        return None
    values = tensors.get("values")
    if values is None or list(values.shape) != rec["shape"] or values.dtype != torch.float32:
        return None
    if pool != "all":
        return values
    mask = tensors.get("mask")
    if mask is None or tuple(mask.shape) != (values.shape[0], values.shape[2]) or mask.dtype != torch.bool:
        return None
    return TokenReadout(values=values, mask=mask)


def _assemble(
    entry: Path, manifest: dict[str, Any], recompute: Callable[[int], Readout] | None = None
) -> Readout:
    """Load every shard into one result; a shard failing its checksum is recomputed via ``recompute``
    (or is an error without it)."""
    pool = manifest["pool"]
    n = int(manifest["n"])
    records = {rec["index"]: rec for rec in manifest["shards"]}
    missing = [i for i in range(_n_shards(manifest)) if i not in records]
    if missing:
        raise ValueError(
            f"{entry}: shards {missing[:5]} of {_n_shards(manifest)} are not complete; "
            "call residuals(..., store=...) again to compute them"
        )
    shapes = [records[i]["shape"] for i in range(_n_shards(manifest))]
    n_sites, d = int(shapes[0][1]), int(shapes[0][-1])
    width = max(int(s[2]) for s in shapes) if pool == "all" else 0
    values = torch.zeros(n, n_sites, width, d) if pool == "all" else torch.empty(n, n_sites, d)
    mask = torch.zeros(n, width, dtype=torch.bool)
    for i in range(_n_shards(manifest)):
        rec = records[i]
        shard = _read_shard(entry, rec, pool)
        if shard is None:
            if recompute is None:
                raise ValueError(
                    f"{entry / rec['file']} is missing or does not match its recorded sha256; "
                    "call residuals(..., store=...) again to recompute it"
                )
            warnings.warn(f"{entry / rec['file']} failed its checksum; recomputing it", stacklevel=3)
            shard = recompute(i)
        start, stop = rec["start"], rec["stop"]
        if isinstance(shard, TokenReadout):
            w = shard.values.shape[2]
            values[start:stop, :, :w] = shard.values
            mask[start:stop, :w] = shard.mask
        else:
            values[start:stop] = shard
        del shard
    return TokenReadout(values=values, mask=mask) if pool == "all" else values


class StoreEntry:
    """A store entry read lazily: iterate shards one at a time, or ``load`` them all."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    @property
    def key(self) -> str:
        return str(self.manifest["key"])

    @property
    def pool(self) -> str:
        return str(self.manifest["pool"])

    @property
    def read_points(self) -> list[int]:
        return list(self.manifest["read_points"])

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])

    def __len__(self) -> int:
        return int(self.manifest["n"])

    def __repr__(self) -> str:
        done = len(self.manifest["shards"])
        return f"StoreEntry({self.path}, n={len(self)}, shards={done}/{_n_shards(self.manifest)})"

    def shards(self) -> Iterator[tuple[int, int, Readout]]:
        """Yield ``(start, stop, values)`` per shard in input order, checking each checksum."""
        records = {rec["index"]: rec for rec in self.manifest["shards"]}
        for i in range(_n_shards(self.manifest)):
            rec = records.get(i)
            shard = None if rec is None else _read_shard(self.path, rec, self.pool)
            if rec is None or shard is None:
                name = _shard_name(i)
                raise ValueError(
                    f"{self.path / name} is missing, incomplete or fails its checksum; "
                    "call residuals(..., store=...) again to (re)compute it"
                )
            yield rec["start"], rec["stop"], shard

    __iter__ = shards

    def load(self) -> Readout:
        """The whole result, as ``residuals`` returns it."""
        return _assemble(self.path, self.manifest)


def open_store(path: str | Path, key: str | None = None) -> StoreEntry:
    """Open the entry at ``path`` (``root/<key>``), or ``root``'s entry ``key`` (see ``store_key``)."""
    entry = Path(path) if key is None else Path(path) / key
    manifest_path = entry / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: no store manifest; pass a directory root/<key> of a store")
    manifest = read_json_object(manifest_path, f"delete {entry} to rebuild it")
    if manifest.get("format") != STORE_FORMAT:
        raise ValueError(f"{manifest_path} is not a valuescope store manifest (format {STORE_FORMAT})")
    return StoreEntry(entry, manifest)
