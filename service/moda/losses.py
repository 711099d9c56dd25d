"""The MODA loss terms over the modular layers' activations t_l (N × D_l) and labels y (N,).

Per layer, with u_i = t_i / ||t_i||₂ (a zero row stays zero) and s_ij = u_i·u_j:
    L_aff  = 1 − mean_{i<j, y_i = y_j} s_ij      same class → same neurons
    L_dis  = mean_{i<j, y_i ≠ y_j} s_ij          other classes → other neurons
    L_comp = ||t||₁ / numel(t)                   few neurons at all
each then averaged over the layers. The pairwise means are computed in O(N·D) from per-class
sums S_c = Σ_{i∈c} u_i:
    Σ_{same-class pairs} s_ij  = Σ_c (||S_c||² − Σ_{i∈c} ||u_i||²) / 2
    Σ_{cross-class pairs} s_ij = (||Σ_c S_c||² − Σ_c ||S_c||²) / 2
A batch without same-class (or cross-class) pairs contributes 0 to that term.

All layers are processed at once, concatenated along the neuron axis: a per-layer sum over
neurons is a product with the (ΣD × L) layer-membership matrix. A few large ops instead of a dozen
small ones per layer is what keeps MODA's overhead over standard training small.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class ModularLoss:
    affinity: torch.Tensor  # L_aff, scalar, mean over layers
    dispersion: torch.Tensor  # L_dis, scalar, mean over layers
    compactness: torch.Tensor  # L_comp, scalar, mean over layers


@functools.lru_cache(maxsize=32)
def _membership(widths: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(ΣD, L) matrix with a 1 where neuron j belongs to layer l; made once per network shape."""
    layer_of = torch.repeat_interleave(torch.arange(len(widths), device=device), torch.tensor(widths, device=device))
    return F.one_hot(layer_of, len(widths)).to(dtype)


def modular_loss(activations: list[torch.Tensor], y: torch.Tensor, num_classes: int) -> ModularLoss:
    """Closed-form affinity, dispersion and compactness, each averaged over the layers."""
    widths = tuple(t.shape[1] for t in activations)
    t = torch.cat(activations, dim=1)  # (N, ΣD)
    per_layer = _membership(widths, t.dtype, t.device)  # (ΣD, L)

    # Clamped before the square root: sqrt has an infinite slope at 0, which would turn an all-zero
    # row (a sample that switched a whole layer off) into NaN gradients.
    norms = ((t * t) @ per_layer).clamp_min(1e-24).sqrt()  # (N, L)
    u = t / (norms @ per_layer.T)  # (N, ΣD); zero rows stay zero
    class_sums = u.new_zeros(num_classes, u.shape[1]).index_add(0, y, u)  # (K, ΣD) = S_c per layer
    total = class_sums.sum(dim=0, keepdim=True)  # (1, ΣD) = Σ_c S_c

    class_sq = ((class_sums * class_sums) @ per_layer).sum(dim=0)  # (L,) Σ_c ||S_c||²
    unit_sq = ((u * u) @ per_layer).sum(dim=0)  # (L,) Σ_i ||u_i||²
    total_sq = ((total * total) @ per_layer).squeeze(0)  # (L,) ||Σ_c S_c||²
    same_sum = (class_sq - unit_sq) / 2  # (L,)
    cross_sum = (total_sq - class_sq) / 2  # (L,)

    counts = torch.bincount(y, minlength=num_classes).to(t.dtype)  # (K,)
    n = counts.sum()
    same_pairs = (counts * (counts - 1)).sum() / 2
    cross_pairs = (n * n - (counts * counts).sum()) / 2
    zero = t.new_zeros(())
    affinity = (1 - same_sum / same_pairs).mean() if same_pairs > 0 else zero
    dispersion = (cross_sum / cross_pairs).mean() if cross_pairs > 0 else zero
    l1 = t.abs().sum(dim=0) @ per_layer  # (L,)
    compactness = (l1 / (n * torch.tensor(widths, dtype=t.dtype, device=t.device))).mean()
    return ModularLoss(affinity, dispersion, compactness)


def pairwise_modular_loss(activations: list[torch.Tensor], y: torch.Tensor) -> ModularLoss:
    """The O(N²·D) definition, layer by layer: the reference the closed form is tested against."""
    aff, dis, comp = [], [], []
    for t in activations:
        u = t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sim = u @ u.T  # (N, N)
        upper = torch.triu(torch.ones_like(sim, dtype=torch.bool), diagonal=1)
        same = (y[:, None] == y[None, :]) & upper
        cross = (y[:, None] != y[None, :]) & upper
        aff.append(1 - sim[same].mean() if same.any() else t.new_zeros(()))
        dis.append(sim[cross].mean() if cross.any() else t.new_zeros(()))
        comp.append(t.abs().sum() / t.numel())
    return ModularLoss(torch.stack(aff).mean(), torch.stack(dis).mean(), torch.stack(comp).mean())
