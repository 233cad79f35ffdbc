"""``LanguageModel``: one loaded model with its readouts and interventions; ``load_model`` builds it."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from valuescope.data.reference import reference_texts
from valuescope.edit.interventions import Intervention, Positions
from valuescope.edit.per_prompt import EditEach
from valuescope.edit.projections import Ablate, EditSubspace, ScaleNeurons
from valuescope.edit.steering import Steer, SteerEach
from valuescope.model import Item, Site, TokenReadout
from valuescope.models.hooks import normalize_blocks, normalize_read_points
from valuescope.models.layout import Layout, resolve_layout
from valuescope.models.loader import ModelInfo, load_parts, state_dict_sha256
from valuescope.readout.batching import Batch, validate_items
from valuescope.readout.residuals import DEFAULT_BATCH_SIZE, check_pool, read_sites

if TYPE_CHECKING:
    import pandas as pd


class LanguageModel:
    """A causal LM with its tokenizer and layout; every study reads and edits models through this."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.layout: Layout = resolve_layout(model)
        self.active_interventions: list[Intervention] = []
        self.last_positions: torch.Tensor | None = None
        self.batch_items: list[int] | None = None
        """During ``generate``: which prompt (index in the caller's list) each batch row is."""
        self._norms: list[float] | None = None
        self._means: torch.Tensor | None = None

    # ----------------------------------------------------------------- description
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def n_layers(self) -> int:
        """Number of decoder blocks; read points run 0..n_layers."""
        return self.layout.n_layers

    @property
    def d_model(self) -> int:
        return self.layout.d_model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def instruct(self) -> bool:
        """Whether prompts go through the chat template by default."""
        return self.info.instruct and self.tokenizer.chat_template is not None

    @functools.cached_property
    def special_token_ids(self) -> frozenset[int]:
        """Ids of the tokenizer's special tokens (BOS, EOS, padding, chat markers)."""
        return frozenset(int(i) for i in self.tokenizer.all_special_ids)

    @functools.cached_property
    def weights_hash(self) -> str:
        """SHA-256 of the weights (of the cached safetensors for GGUF sources)."""
        return self.info.weights_sha256 or state_dict_sha256(self.model)

    def describe(self) -> dict[str, Any]:
        """Manifest-facing description, including the weights hash and any GGUF quantization."""
        d = self.info.to_dict()
        d["weights_sha256"] = self.weights_hash
        d["n_layers"] = self.n_layers
        d["d_model"] = self.d_model
        return d

    def __repr__(self) -> str:
        return f"LanguageModel({self.name!r}, family={self.info.family}, n_layers={self.n_layers})"

    def _set_batch(self, batch: Batch) -> None:
        self.last_positions = batch.last

    # ----------------------------------------------------------------- readouts
    @overload
    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: Literal["last", "mean"] = ...,
        batch_size: int = ...,
        progress: bool | None = ...,
        store: str | Path | None = ...,
    ) -> torch.Tensor: ...

    @overload
    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: Literal["all"],
        batch_size: int = ...,
        progress: bool | None = ...,
        store: str | Path | None = ...,
    ) -> TokenReadout: ...

    @overload
    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: str,
        batch_size: int = ...,
        progress: bool | None = ...,
        store: str | Path | None = ...,
    ) -> torch.Tensor | TokenReadout: ...

    def residuals(
        self,
        texts: Sequence[Item],
        layers: Sequence[int] | int,
        pool: str = "last",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        store: str | Path | None = None,
    ) -> torch.Tensor | TokenReadout:
        """Residual stream at read points ``layers``: (n, len(layers), d_model) float32.

        Items are texts or (context, text) pairs whose context is read but not pooled. ``pool``
        is ``last`` (last token), ``mean`` (text tokens, special tokens excluded) or ``all``
        (a ``TokenReadout``). ``store`` names a directory that caches results on disk.
        """
        items = validate_items(texts)
        read_points = normalize_read_points(self.layout, layers)
        check_pool(pool)
        if store is not None:
            from valuescope.readout.store import cached_residuals

            return cached_residuals(self, items, read_points, pool, Path(store), batch_size, progress)
        sites = [Site("residual", rp) for rp in read_points]
        return self.read(items, sites, pool, batch_size, progress, "residuals")

    def neurons(
        self,
        texts: Sequence[Item],
        blocks: Sequence[int] | int,
        pool: str = "last",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
    ) -> torch.Tensor | TokenReadout:
        """MLP neuron activations (input to the down-projection): (n, len(blocks), n_neurons)."""
        items = validate_items(texts)
        block_ids = normalize_blocks(self.layout, blocks)
        check_pool(pool)
        sites = [Site("neurons", b) for b in block_ids]
        return self.read(items, sites, pool, batch_size, progress, "neurons")

    def read(
        self,
        items: list[Item],
        sites: list[Site],
        pool: str,
        batch_size: int,
        progress: bool | None,
        desc: str,
    ) -> torch.Tensor | TokenReadout:
        """``sites`` of already-checked ``items``, pooled, computed now (no disk cache); ``desc``
        labels the progress bar."""
        try:
            return read_sites(
                self.layout,
                self.tokenizer,
                items,
                sites,
                pool,
                self.device,
                batch_size,
                progress,
                self._set_batch,
                desc,
            )
        finally:
            self.last_positions = None

    def neuron_write_directions(self, block: int) -> torch.Tensor:
        """Each neuron's effective write direction into the residual stream (n_neurons, d_model)."""
        (b,) = normalize_blocks(self.layout, [block], "block")
        return self.layout.neuron_write_directions(b)

    def rate(self, prompts: Sequence[str], options: Sequence[str], **kwargs: Any) -> pd.DataFrame:
        """Likert / multiple-choice ratings from next-token probabilities; see ``readout.ratings.rate``."""
        from valuescope.readout.ratings import rate

        return rate(self, prompts, options, **kwargs)

    def generate(self, prompts: Sequence[str], max_new_tokens: int = 64, **kwargs: Any) -> list[str]:
        """Batched greedy or sampled generation; see ``readout.generation.generate``."""
        from valuescope.readout.generation import generate

        return generate(self, prompts, max_new_tokens=max_new_tokens, **kwargs)

    def logprob(self, texts: Sequence[Any], **kwargs: Any) -> pd.DataFrame:
        """Sum and mean log-probability of each text's tokens; see ``readout.logprob.text_logprobs``."""
        from valuescope.readout.logprob import text_logprobs

        return text_logprobs(self, texts, **kwargs)

    def damage(self, intervention: Intervention, texts: Sequence[str] | None = None) -> dict[str, float]:
        """KL and perplexity change that ``intervention`` causes on neutral reference text."""
        from valuescope.readout.damage import damage

        return damage(self, intervention, texts)

    # ----------------------------------------------------------------- interventions
    def steer(
        self,
        vector: torch.Tensor,
        layers: Sequence[int] | int,
        alpha: float = 1.0,
        positions: Positions = "all",
        raw: bool = False,
    ) -> Steer:
        """Add ``vector`` at read points ``layers``; ``alpha`` is in units of the mean residual norm
        there (on the reference text) unless ``raw`` adds ``alpha * vector`` as given."""
        return Steer(self, vector, layers, alpha, positions, raw)

    def ablate(
        self,
        direction: torch.Tensor,
        layers: Sequence[int] | int,
        sublayers: bool = False,
        center: float | Mapping[int, float] | str | None = None,
        keep_special: bool = False,
    ) -> Ablate:
        """Project ``direction`` out of the residual stream at ``layers``; with ``sublayers`` also out
        of every attention and MLP contribution (after any post-norm). ``center="reference"`` sets
        the component to its mean on the reference text instead of 0 (mean ablation);
        ``keep_special`` leaves special-token positions (BOS) untouched."""
        return Ablate(self, direction, layers, sublayers, center, keep_special)  # type: ignore[arg-type]

    def steer_each(
        self,
        vectors: torch.Tensor,
        layers: Sequence[int] | int,
        alphas: float | Sequence[float] = 1.0,
        raw: bool = False,
    ) -> SteerEach:
        """Steer prompt i of the next ``generate`` call with ``vectors[i]`` (alpha ``alphas[i]``), so that
        many steering vectors share one batched generation; see ``edit.steering.SteerEach``."""
        return SteerEach(self, vectors, layers, alphas, raw)

    def edit_each(self, edits: Sequence[Intervention | None], which: Sequence[int]) -> EditEach:
        """Put prompt i of the next ``generate`` call under ``edits[which[i]]`` (None: unedited), so that
        many edits share one batched generation; see ``edit.per_prompt.EditEach``."""
        return EditEach(self, edits, which)

    def scale_neurons(self, neurons: Mapping[int, Sequence[int]], factor: float) -> ScaleNeurons:
        """Scale MLP neurons ``{block: [indices]}`` by ``factor`` (0 zeroes them)."""
        return ScaleNeurons(self, neurons, factor)

    def edit_subspace(
        self,
        basis: torch.Tensor,
        matrix: torch.Tensor,
        layers: Sequence[int] | int,
        center: torch.Tensor | None = None,
        keep_special: bool = True,
    ) -> EditSubspace:
        """Replace the residual's coordinates in the subspace spanned by ``basis`` (orthonormal rows,
        measured from ``center``) by ``matrix`` times them, at ``layers``; the rest, and special-token
        positions unless ``keep_special`` is False, are untouched."""
        return EditSubspace(self, basis, matrix, layers, center, keep_special)

    def mean_residual_norm(self, read_point: int) -> float:
        """Mean per-token residual norm at ``read_point`` on the reference text, without any edit."""
        if self._norms is None:
            self._norms, self._means = self._load_or_measure_reference()
        return self._norms[read_point]

    def mean_residual(self, read_point: int) -> torch.Tensor:
        """Mean residual vector (d_model,) at ``read_point`` over the reference text's own tokens
        (special tokens excluded), without any edit."""
        if self._means is None:
            self._norms, self._means = self._load_or_measure_reference()
        return self._means[read_point]

    def reference_tokens(self, read_point: int) -> np.ndarray:
        """Residuals (tokens, d_model) of the neutral reference text's own tokens at ``read_point``, under
        the edits active now: the data that edits' controls are matched on."""
        ref = self.residuals(reference_texts(), layers=[read_point], pool="all")
        tokens: np.ndarray = ref.values[:, 0][ref.mask].double().numpy()
        return tokens

    def _load_or_measure_reference(self) -> tuple[list[float], torch.Tensor]:
        """Per read point: mean token norm and mean vector on the reference text (cached on disk,
        checksummed; a damaged cache file is measured again, see :mod:`valuescope.models.norms_cache`)."""
        from valuescope.models.norms_cache import load_reference, norms_path, save_reference

        path = norms_path(self.weights_hash, self.info.dtype)
        cached = load_reference(path, self.n_layers + 1, self.d_model)
        if cached is not None:
            return cached
        with ExitStack() as stack:  # measure the unedited model
            for iv in reversed(self.active_interventions):  # so that they come back in their order
                stack.enter_context(iv.suspended())
            sites = [Site("residual", rp) for rp in range(self.n_layers + 1)]
            texts: list[Item] = list(reference_texts())
            tokens = self.read(texts, sites, "all", DEFAULT_BATCH_SIZE, False, "norms")
        assert isinstance(tokens, TokenReadout)
        mask = tokens.mask  # (n, seq): the texts' own tokens
        picked = tokens.values.permute(1, 0, 2, 3)[:, mask]  # (sites, tokens, d)
        per_site = picked.norm(dim=-1).mean(dim=1).tolist()
        means = picked.double().mean(dim=1).float().contiguous()
        save_reference(path, per_site, means)
        return per_site, means


def load_model(
    name_or_path: str = "gemma-3-270m",
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> LanguageModel:
    """Load a model by registry name (``valuescope models``), Hugging Face id, directory or ``.gguf``.

    float32 on CPU and bfloat16 on CUDA unless ``dtype`` says otherwise; ``device_map="auto"``
    spreads a large model over the GPUs of one node.
    """
    model, tokenizer, info = load_parts(name_or_path, device, dtype, trust_remote_code, device_map)
    return LanguageModel(model, tokenizer, info)
