"""Training sparse autoencoders on residual-stream vectors: ``train_sae``, the TopK recipe of Gao et al.
2024 (b_dec at the geometric median, unit-norm decoder rows with the parallel gradient removed, encoder
initialised as the decoder's transpose, AuxK loss on dead latents), or BatchTopK (Bussmann et al. 2024),
on inputs rescaled so that E||x|| = sqrt(d_in). The scale is folded into the weights at the end, so every
``SAE`` takes raw residuals. Training is deterministic for a given seed (its own ``torch.Generator``; the
global RNG is untouched)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from valuescope.studies.indifference.sae_model import (
    EVAL_BATCH,
    SAE,
    as_input,
    batch_topk_activations,
    evaluate_with_fired,
)
from valuescope.studies.indifference.sae_sparse_loss import batch_loss


@dataclass(frozen=True)
class TrainReport:
    """What ``train_sae`` did and how well the SAE reconstructs the held-out rows.

    tokens_trained counts rows seen, repeats included; n_unique_tokens the distinct training rows.
    mse, fve and l0 are on the held-out rows (raw units); dead_fraction is the share of features active
    neither on the held-out rows nor in the last ``dead_after`` training tokens. loss_curve holds
    (step, mean training loss over the preceding steps): the fraction of variance unexplained of the
    batch, plus the AuxK term.
    """

    architecture: str
    d_in: int
    d_sae: int
    k: int
    steps: int
    batch_size: int
    lr: float
    tokens_trained: int
    n_unique_tokens: int
    n_heldout: int
    input_scale: float
    mse: float
    fve: float
    l0: float
    dead_fraction: float
    seconds: float
    loss_curve: list[tuple[int, float]]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON values."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["loss_curve"] = [list(p) for p in self.loss_curve]
        return out


def default_lr(d_sae: int) -> float:
    """Adam learning rate for ``train_sae``: 8 x Gao et al.'s 2e-4 / sqrt(d_sae / 2^14), at most 1e-2.

    The factor 8 suits the short runs (a few hundred steps) this package trains on small stimulus sets:
    on 20k Gemma-3-270M residuals (d_sae 4096, k 32) 200 steps reach the held-out FVE that 350 steps
    reach at 4 x.
    """
    return min(1e-2, 1.6e-3 / math.sqrt(d_sae / 2**14))


def train_sae(
    X: Tensor | np.ndarray,
    *,
    d_sae: int,
    k: int,
    architecture: Literal["topk", "batchtopk"] = "topk",
    steps: int | None = None,
    epochs: float = 20.0,
    batch_size: int = 1024,
    lr: float | None = None,
    seed: int = 0,
    aux_k: int | None = None,
    aux_coef: float = 1 / 32,
    dead_after: int = 10_000,
    heldout: float = 0.1,
    normalize: bool = True,
    metadata: dict[str, Any] | None = None,
    log_every: int = 50,
    progress: bool = False,
    num_threads: int | None = None,
) -> tuple[SAE, TrainReport]:
    """Train a TopK (or BatchTopK) SAE with ``d_sae`` features on the rows of ``X`` (n_tokens, d_in), on CPU.

    A seeded ``heldout`` share of rows is set aside for the report. Training runs ``steps`` Adam steps of
    ``batch_size`` rows (default: ``epochs`` passes over the training rows), ``lr`` defaulting to
    ``default_lr(d_sae)``, with a linear warm-up over the first 5% of steps and decay to 0 over the last
    20%. A latent is dead once it has not fired for ``dead_after`` tokens; the AuxK loss (weight
    ``aux_coef``) has the ``aux_k`` (default d_in // 2) most active dead latents reconstruct the residual.
    ``metadata`` (hook_name, read_point, model_name, ...) is stored on the SAE with the training record.
    ``num_threads`` sets torch's intra-op threads while training (restored after): 1 is often much faster
    on small models or on cores that other processes share.
    """
    _check_architecture(architecture)
    xt = _training_rows(X)
    _check_sizes(d_sae, k, batch_size, log_every)
    _check_shares(heldout, dead_after)
    gen = torch.Generator().manual_seed(seed)
    train_x, held_x = _split_heldout(xt, heldout, gen)
    batch_size = min(batch_size, len(train_x))
    recipe = _Recipe(
        architecture=architecture,
        k=k,
        steps=_n_steps(steps, epochs, len(train_x), batch_size),
        batch_size=batch_size,
        lr=default_lr(d_sae) if lr is None else float(lr),
        aux_k=xt.shape[1] // 2 if aux_k is None else aux_k,
        aux_coef=aux_coef,
        dead_after=dead_after,
        log_every=log_every,
        seed=seed,
        normalize=normalize,
    )
    with _intra_op_threads(num_threads):
        t0 = time.perf_counter()
        scale = _input_scale(train_x, normalize)
        train_x = train_x * scale
        params = _initial_params(train_x, d_sae, gen)
        run = _optimise(params, train_x, gen, recipe, progress)
        sae = _folded_sae(params, scale, recipe, train_x)
        sae.metadata = {**(metadata or {}), "training": _training_record(recipe, run, len(train_x), scale)}
        ev, fired_eval = evaluate_with_fired(sae, held_x if len(held_x) else train_x / scale, EVAL_BATCH)
        dead_final = (~fired_eval) & (run.since_fired >= min(dead_after, run.tokens))
        report = TrainReport(
            architecture=architecture,
            d_in=xt.shape[1],
            d_sae=d_sae,
            k=k,
            steps=recipe.steps,
            batch_size=batch_size,
            lr=recipe.lr,
            tokens_trained=run.tokens,
            n_unique_tokens=len(train_x),
            n_heldout=len(held_x),
            input_scale=scale,
            mse=ev["mse"],
            fve=ev["fve"],
            l0=ev["l0"],
            dead_fraction=float(dead_final.float().mean()),
            seconds=time.perf_counter() - t0,
            loss_curve=run.curve,
        )
        return sae, report


@dataclass(frozen=True)
class _Recipe:
    """The settings ``train_sae`` resolved from its arguments."""

    architecture: Literal["topk", "batchtopk"]
    k: int
    steps: int
    batch_size: int
    lr: float
    aux_k: int
    aux_coef: float
    dead_after: int
    log_every: int
    seed: int
    normalize: bool


@dataclass(frozen=True)
class _Run:
    """What the optimisation leaves: tokens seen, tokens since each latent last fired, the loss curve."""

    tokens: int
    since_fired: Tensor
    curve: list[tuple[int, float]]


def _check_architecture(architecture: str) -> None:
    if architecture not in ("topk", "batchtopk"):
        raise ValueError(
            f"train_sae trains 'topk' and 'batchtopk' SAEs, got {architecture!r}; relu and jumprelu SAEs "
            "can be loaded (load_sae) but not trained here"
        )


def _training_rows(X: Tensor | np.ndarray) -> Tensor:
    """``X`` as a finite float32 (n_tokens, d_in) CPU tensor, or a ValueError saying what is wrong."""
    xt = torch.as_tensor(X)
    if xt.ndim != 2 or xt.shape[1] == 0:
        raise ValueError(f"X must be 2-D (n_tokens, d_in), got shape {tuple(xt.shape)}")
    xt = as_input(xt.detach().cpu(), xt.shape[1], "X")
    if not torch.isfinite(xt).all():
        raise ValueError(f"X has {int((~torch.isfinite(xt)).sum())} NaN or infinite entries; drop them first")
    return xt


def _check_sizes(d_sae: int, k: int, batch_size: int, log_every: int) -> None:
    for value, name in ((d_sae, "d_sae"), (k, "k"), (batch_size, "batch_size"), (log_every, "log_every")):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if k > d_sae:
        raise ValueError(f"k={k} exceeds d_sae={d_sae}")


def _check_shares(heldout: float, dead_after: int) -> None:
    if not 0.0 <= heldout < 0.5:
        raise ValueError(f"heldout must be in [0, 0.5), got {heldout}")
    if dead_after < 1:
        raise ValueError(f"dead_after must be >= 1 token, got {dead_after}")


def _split_heldout(xt: Tensor, heldout: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows): a ``heldout`` share of the rows, drawn with ``gen``, set aside."""
    n = len(xt)
    perm = torch.randperm(n, generator=gen)
    n_held = round(heldout * n)
    train_x, held_x = xt[perm[n_held:]], xt[perm[:n_held]]
    if len(train_x) < 2 or (heldout > 0 and n_held < 1):
        raise ValueError(f"X has {n} rows: too few to train on and hold out {heldout:.0%}")
    return train_x, held_x


def _n_steps(steps: int | None, epochs: float, n_train: int, batch_size: int) -> int:
    """``steps`` checked, or as many steps as ``epochs`` passes over ``n_train`` rows take."""
    if steps is None:
        if epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {epochs}")
        return max(1, math.ceil(epochs * n_train / batch_size))
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    return steps


def _input_scale(train_x: Tensor, normalize: bool) -> float:
    """The factor that makes the training rows' mean norm sqrt(d_in) (1 without ``normalize``)."""
    mean_norm = float(train_x.norm(dim=1).mean())
    if normalize and mean_norm == 0:
        raise ValueError("every training row of X is zero; there is nothing to reconstruct")
    return math.sqrt(train_x.shape[1]) / mean_norm if normalize else 1.0


def _initial_params(train_x: Tensor, d_sae: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Unit-norm random decoder rows, the encoder as their transpose, b_dec at the geometric median.

    The encoder is trained as E = W_enc.T (d_sae, d_in), so that its rows can be gathered."""
    w_dec = torch.randn(d_sae, train_x.shape[1], generator=gen)
    w_dec /= w_dec.norm(dim=1, keepdim=True)
    params = {
        "E": w_dec.clone(),
        "b_enc": torch.zeros(d_sae),
        "W_dec": w_dec,
        "b_dec": _geometric_median(train_x[:16384]),
    }
    for p in params.values():
        p.requires_grad_(True)
    return params


def _optimise(
    params: dict[str, Tensor], train_x: Tensor, gen: torch.Generator, recipe: _Recipe, progress: bool
) -> _Run:
    """``recipe.steps`` Adam steps on batches of ``train_x``, keeping the decoder rows at unit norm."""
    W_dec = params["W_dec"]
    opt = torch.optim.Adam(list(params.values()), lr=recipe.lr, betas=(0.9, 0.999), eps=6.25e-10, fused=True)
    since_fired = torch.zeros(len(W_dec), dtype=torch.long)
    curve: list[tuple[int, float]] = []
    window: list[float] = []
    tokens = 0
    steps = tqdm(range(recipe.steps), disable=not progress, desc="train_sae")
    for step, xb in zip(steps, _batches(train_x, recipe.batch_size, gen), strict=False):
        tokens += len(xb)
        for group in opt.param_groups:
            group["lr"] = recipe.lr * _lr_factor(step, recipe.steps)
        dead = since_fired >= recipe.dead_after
        loss, fired = batch_loss(
            xb, params, recipe.architecture, recipe.k, dead, recipe.aux_k, recipe.aux_coef
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            _unit_norm_step(opt, W_dec)
            since_fired += len(xb)
            since_fired[fired] = 0
        window.append(float(loss.detach()))
        if (step + 1) % recipe.log_every == 0 or step + 1 == recipe.steps:
            curve.append((step + 1, float(np.mean(window))))
            window = []
    return _Run(tokens=tokens, since_fired=since_fired, curve=curve)


def _batches(x: Tensor, batch_size: int, gen: torch.Generator) -> Iterator[Tensor]:
    """Batches of rows of ``x`` without replacement, reshuffled with ``gen`` when too few rows remain."""
    order, pos = torch.randperm(len(x), generator=gen), 0
    while True:
        if pos + batch_size > len(order):
            order, pos = torch.randperm(len(x), generator=gen), 0
        yield x[order[pos : pos + batch_size]]
        pos += batch_size


def _lr_factor(step: int, steps: int) -> float:
    """Linear warm-up over the first 5% of steps, 1, then linear decay to 0 over the last 20%."""
    warm, decay_from = max(1, steps // 20), int(steps * 0.8)
    return min(1.0, (step + 1) / warm, (steps - step) / max(1, steps - decay_from))


def _unit_norm_step(opt: torch.optim.Optimizer, W_dec: Tensor) -> None:
    """An optimiser step with the decoder gradient's part along each row removed, rows renormalised after."""
    g = cast(Tensor, W_dec.grad)
    g -= (g * W_dec).sum(1, keepdim=True) * W_dec
    opt.step()
    W_dec /= W_dec.norm(dim=1, keepdim=True)


def _folded_sae(params: dict[str, Tensor], scale: float, recipe: _Recipe, train_x: Tensor) -> SAE:
    """The trained weights as an SAE on raw residuals: pre(s x) and decode / s, with ``scale`` s folded in."""
    with torch.no_grad():
        weights = {name: p.detach().clone() for name, p in params.items()}
        weights["W_enc"] = weights.pop("E").T.contiguous()
        threshold = None
        if recipe.architecture == "batchtopk":
            cut = _batch_threshold(train_x, weights, recipe.k, recipe.batch_size)
            threshold = torch.full((len(weights["b_enc"]),), cut)
        return SAE(
            W_enc=weights["W_enc"] * scale,
            b_enc=weights["b_enc"],
            W_dec=weights["W_dec"] / scale,
            b_dec=weights["b_dec"] / scale,
            architecture=recipe.architecture,
            k=recipe.k,
            threshold=threshold,
            apply_b_dec_to_input=True,
        )


def _training_record(recipe: _Recipe, run: _Run, n_unique: int, scale: float) -> dict[str, Any]:
    """How the SAE was trained, as JSON values (stored in its metadata under ``training``)."""
    return {
        "trained_by": "valuescope.studies.indifference.sae_training.train_sae",
        "tokens_trained": run.tokens,
        "n_unique_tokens": n_unique,
        "steps": recipe.steps,
        "lr": recipe.lr,
        "batch_size": recipe.batch_size,
        "seed": recipe.seed,
        "normalization": {
            "method": "expected_average_only_in" if recipe.normalize else "none",
            "input_scale": scale,
            "folded": True,
        },
    }


@contextmanager
def _intra_op_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    if int(n) != n or n < 1:
        raise ValueError(f"num_threads must be a positive integer or None, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _geometric_median(x: Tensor, iters: int = 100, tol: float = 1e-6) -> Tensor:
    """Weiszfeld's iteration for the point minimising the summed distance to the rows of ``x``."""
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=1).clamp_min(1e-8)
        new = (w[:, None] * x).sum(0) / w.sum()
        done = float((new - m).norm()) <= tol * max(1.0, float(m.norm()))
        m = new
        if done:
            break
    return m


def _batch_threshold(x: Tensor, w: dict[str, Tensor], k: int, batch_size: int) -> float:
    """BatchTopK inference threshold: mean over batches of the smallest activation the batch keeps."""
    mins: list[float] = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        if len(xb) < batch_size and mins:
            break
        f = batch_topk_activations((xb - w["b_dec"]) @ w["W_enc"] + w["b_enc"], k)
        kept = f[f > 0]
        if kept.numel():
            mins.append(float(kept.min()))
    return float(np.mean(mins)) if mins else 0.0
