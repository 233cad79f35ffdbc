"""Geometric repair: a linear edit inside a feature subspace that makes the representations' similarity
structure match that of ground-truth vectors, with a penalty that keeps other text where it was.

Items' residuals x (measured from a centre c, e.g. the neutral items' mean) have coordinates
z = (x - c) B^T in a subspace with orthonormal basis B (k, d). The edit replaces them by M z. M is
fitted so that the Gram matrix of the edited coordinates of moral items, scaled to unit mean
diagonal, matches the Gram matrix of their ground-truth vectors scaled the same way (same class:
large; opposed or unrelated classes: zero; typical items: longer), while ``keep`` rows (neutral text)
move as little as possible and M stays near the identity. Applied to a model it is
:class:`valuescope.edit.projections.EditSubspace`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch


@dataclass(frozen=True)
class Repair:
    """A fitted subspace edit: ``basis`` (k, d) orthonormal rows, ``matrix`` (k, k), ``center`` (d,)."""

    basis: np.ndarray
    matrix: np.ndarray
    center: np.ndarray
    structure_before: float
    """Structure loss of the unedited fit rows (mean squared Gram mismatch)."""
    structure_after: float
    keep_change: float
    """Mean squared change of the keep rows, relative to their mean squared subspace coordinate."""

    @property
    def k(self) -> int:
        return int(self.basis.shape[0])

    @property
    def norm(self) -> float:
        """Frobenius norm of M - I (random controls are scaled to it)."""
        return float(np.linalg.norm(self.matrix - np.eye(self.k)))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Edited copies of rows ``x`` (n, d)."""
        z = (x - self.center) @ self.basis.T
        return x + (z @ (self.matrix - np.eye(self.k)).T) @ self.basis


def subspace_basis(directions: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Orthonormal rows spanning ``directions`` (m, d): (k, d) with k their numerical rank."""
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] < 1:
        raise ValueError(f"directions has shape {d.shape}; give at least one direction as rows (m, d)")
    _, s, vt = np.linalg.svd(d, full_matrices=False)
    rank = int((s > tol * s[0]).sum()) if s[0] > 0 else 0
    if rank == 0:
        raise ValueError("directions are all zero; a subspace needs at least one non-zero direction")
    return vt[:rank]


def normalised_gram(v: np.ndarray) -> np.ndarray:
    """v v^T divided by its mean diagonal (so structure, not scale, is compared)."""
    g = v @ v.T
    scale = float(np.mean(np.diag(g)))
    if scale <= 0:
        raise ValueError("every row is zero; the Gram matrix has no structure to match")
    return g / scale


def structure_loss(z: np.ndarray, targets: np.ndarray) -> float:
    """Mean squared difference of the normalised Gram matrices of ``z`` and ``targets``."""
    return float(np.mean((normalised_gram(z) - normalised_gram(targets)) ** 2))


def fit_repair(
    x: np.ndarray,
    targets: np.ndarray,
    keep: np.ndarray,
    basis: np.ndarray,
    center: np.ndarray,
    *,
    keep_weight: float = 1.0,
    norm_weight: float = 1e-3,
    steps: int = 400,
    lr: float = 0.05,
    seed: int = 0,
) -> Repair:
    """Fit M on fit rows ``x`` (n, d) with ground-truth ``targets`` (n, t), keeping ``keep`` rows (m, d).

    Loss: structure mismatch + ``keep_weight`` x relative squared change of the keep rows +
    ``norm_weight`` x ||M - I||^2. Adam from M = I; deterministic given ``seed``.
    """
    x, keep, basis, center = (np.asarray(a, dtype=np.float64) for a in (x, keep, basis, center))
    t = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or t.ndim != 2 or len(x) != len(t):
        raise ValueError(f"x {x.shape} and targets {t.shape} must be 2-D with one row per item")
    if len(x) < 3:
        raise ValueError(f"only {len(x)} fit rows; the repair needs at least 3 items")
    if np.any(np.linalg.norm(t, axis=1) == 0):
        raise ValueError("every fit row needs a non-zero target vector (pass moral items only)")
    if keep.ndim != 2 or len(keep) < 1 or keep.shape[1] != x.shape[1]:
        raise ValueError(f"keep has shape {keep.shape}; it must be (m >= 1, {x.shape[1]})")
    torch.manual_seed(seed)
    b = torch.as_tensor(basis)
    z = torch.as_tensor(x - center) @ b.T
    zk = torch.as_tensor(keep - center) @ b.T
    tt = torch.as_tensor(t)
    keep_scale = float((zk**2).sum(1).mean()) or 1.0
    eye = torch.eye(b.shape[0], dtype=torch.float64)
    m = eye.clone().requires_grad_(True)
    opt = torch.optim.Adam([m], lr=lr)
    for _ in range(int(steps)):
        opt.zero_grad()
        loss, _, _ = _loss(m, z, zk, tt, eye, keep_scale, keep_weight, norm_weight)
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, structure, keep_change = _loss(m, z, zk, tt, eye, keep_scale, keep_weight, norm_weight)
    return Repair(
        basis=basis,
        matrix=m.detach().numpy(),
        center=center,
        structure_before=structure_loss(z.numpy(), t),
        structure_after=float(structure),
        keep_change=float(keep_change),
    )


def _loss(
    m: torch.Tensor,
    z: torch.Tensor,
    zk: torch.Tensor,
    t: torch.Tensor,
    eye: torch.Tensor,
    keep_scale: float,
    keep_weight: float,
    norm_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ze = z @ m.T
    structure = _gram_mismatch(ze, t)
    keep_change = ((zk @ (m - eye).T) ** 2).sum(1).mean() / keep_scale
    loss = structure + keep_weight * keep_change + norm_weight * ((m - eye) ** 2).sum()
    return loss, structure, keep_change


def _gram_mismatch(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """mean((Z Z^T / a - T T^T / b)^2) with a, b the mean diagonals, through (k, k)-sized products only:
    ||Z^T Z||^2 / a^2 - 2 ||Z^T T||^2 / (a b) + ||T^T T||^2 / b^2, over n^2 (O(n k^2), not O(n^2 k))."""
    n = z.shape[0]
    a = (z**2).sum() / n
    b = (t**2).sum() / n
    total = (
        ((z.T @ z) ** 2).sum() / a**2 - 2 * ((z.T @ t) ** 2).sum() / (a * b) + ((t.T @ t) ** 2).sum() / b**2
    )
    return total / n**2


def in_subspace(repair: Repair, basis: np.ndarray) -> Repair:
    """The fitted matrix applied in another subspace: ``basis`` (k, d) orthonormal rows of the same size."""
    b = np.asarray(basis, dtype=np.float64)
    if b.shape != repair.basis.shape:
        raise ValueError(f"basis has shape {b.shape}; the repair's is {repair.basis.shape}")
    return replace(repair, basis=b)


def displacement(repair: Repair, x: np.ndarray) -> float:
    """Mean Euclidean length of the change the edit makes to rows ``x`` (n, d): its effect on them."""
    xa = np.asarray(x, dtype=np.float64)
    return float(np.linalg.norm(repair.apply(xa) - xa, axis=1).mean())


def at_displacement(repair: Repair, x: np.ndarray, target: float) -> Repair:
    """The same edit with M - I rescaled so that its mean displacement of rows ``x`` equals ``target``
    (displacement is linear in M - I). ValueError if the edit does not move ``x`` at all."""
    size = displacement(repair, x)
    if not size > 0:
        raise ValueError("the edit does not move these rows; it cannot be rescaled to a displacement")
    eye = np.eye(repair.k)
    return replace(repair, matrix=eye + (repair.matrix - eye) * (float(target) / size))
