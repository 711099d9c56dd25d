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

All layers are processed at once, concatenated along the neuron axis, and the gradient is
written out (`_ModularTerms`): a few ops over all the neurons, and the per-layer ones in place,
is what keeps MODA's overhead over standard training small.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable


@dataclass(frozen=True)
class ModularLoss:
    terms: torch.Tensor  # (3,) L_aff, L_dis, L_comp, each a mean over layers

    @property
    def affinity(self) -> torch.Tensor:
        return self.terms[0]

    @property
    def dispersion(self) -> torch.Tensor:
        return self.terms[1]

    @property
    def compactness(self) -> torch.Tensor:
        return self.terms[2]


@functools.lru_cache(maxsize=32)
def _inverse_widths(widths: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(ΣD,): each neuron's 1 / (L·D_l), which makes a sum over neurons the layers' mean of their
    per-neuron means; made once per network shape."""
    per_layer = [torch.full((width,), 1.0 / (len(widths) * width), dtype=dtype, device=device) for width in widths]
    return torch.cat(per_layer)


def _layer_sums(x: torch.Tensor, widths: tuple[int, ...]) -> torch.Tensor:
    """(N, ΣD) -> (N, L): each layer's sum over its neurons. A sum per slice is 6x faster than a
    product with a (ΣD, L) membership matrix, whose few columns no matrix kernel is made for."""
    return torch.stack([part.sum(dim=1) for part in x.split(widths, dim=1)], dim=1)


def modular_loss(activations: list[torch.Tensor], y: torch.Tensor, num_classes: int) -> ModularLoss:
    """Closed-form affinity, dispersion and compactness, each averaged over the layers.

    `activations` are post-ReLU (non-negative), so L_comp's ||t||₁ is Σ t and its gradient 1/numel
    everywhere; at a zero, where |t| has a kink, the ReLU that made the zero masks the gradient anyway."""
    widths = tuple(t.shape[1] for t in activations)
    inv_width = _inverse_widths(widths, activations[0].dtype, activations[0].device)
    counts = torch.bincount(y, minlength=num_classes).tolist()
    n = len(y)
    pairs = _Pairs(
        classes=num_classes,
        widths=widths,
        samples=n,
        same=sum(c * (c - 1) for c in counts) / 2,
        cross=(n * n - sum(c * c for c in counts)) / 2,
    )
    terms = _ModularTerms.apply(y, inv_width, pairs, *activations)  # type: ignore[no-untyped-call]  # torch leaves apply unannotated
    return ModularLoss(terms)


@dataclass(frozen=True)
class _Pairs:
    """The batch's shape as the terms' denominators need it."""

    classes: int  # K
    widths: tuple[int, ...]  # D_l of each of the L layers
    samples: int  # N
    same: float  # same-class pairs i < j
    cross: float  # cross-class pairs i < j

    @property
    def layers(self) -> int:
        return len(self.widths)


class _ModularTerms(torch.autograd.Function):
    """(L_aff, L_dis, L_comp) in one node, with the gradient written out.

    Autograd's own graph of the closed form is some 70 ops a step, each allocating an activation-
    sized buffer: on a small network their dispatch (3 ms added to a 4 ms MLP step), on a large one
    their memory traffic, was most of what the terms cost. Here the forward makes 3 such buffers
    and the backward 2. Summed over the layers (which the mean over layers does with equal weights),
    the pair sums need no per-layer split:
        Σ_l same_sum_l  = (Σ_c ||S_c||² − Σ_i ||u_i||²) / 2      over all ΣD neurons at once
        Σ_l cross_sum_l = (||T||² − Σ_c ||S_c||²) / 2             T = Σ_c S_c
    Gradients, with a = −∂L/∂L_aff / (L·same pairs) and b = ∂L/∂L_dis / (L·cross pairs):
        ∂L/∂u_i = a·(S_{y_i} − u_i) + b·(T − S_{y_i})
        ∂L/∂t_i = (g_i − u_i (u_i·g_i)) / ||t_i||      per layer, through u_i = t_i / ||t_i||
    which maps the −a·u_i part (along u_i) to 0; compactness adds 1 / (L·N·D_l).
    """

    @staticmethod
    def forward(
        ctx: Any,  # torch's FunctionCtx type lacks the attributes set here
        y: torch.Tensor,  # (N,)
        inv_width: torch.Tensor,  # (ΣD,)
        pairs: _Pairs,
        *activations: torch.Tensor,  # (N, D_l) each
    ) -> torch.Tensor:
        t = torch.cat(activations, dim=1)  # (N, ΣD)
        l1 = t.sum(dim=0).dot(inv_width)  # Σ_l ||t_l||₁ / (L·D_l)
        # Clamped: a sample that switched a whole layer off has a zero row, which stays zero in u.
        squares = _layer_sums(t * t, pairs.widths)  # (N, L) ||t_i||² per layer
        inv_norm = squares.clamp_min(1e-24).rsqrt_()  # (N, L)
        for layer, scale in zip(t.split(pairs.widths, dim=1), inv_norm.unbind(dim=1), strict=True):
            layer.mul_(scale[:, None])  # in place, layer by layer: no (N, ΣD) buffer of norms
        u = t  # (N, ΣD)
        class_sums = u.new_zeros(pairs.classes, u.shape[1]).index_add_(0, y, u)  # (K, ΣD) = S_c
        total = class_sums.sum(dim=0)  # (ΣD,) = T
        flat_sums = class_sums.view(-1)
        unit_sq = squares.mul_(inv_norm).mul_(inv_norm).sum()  # Σ_i ||u_i||², 1 per nonzero row and layer
        sums = torch.stack([flat_sums.dot(flat_sums), unit_sq, total.dot(total), l1])
        class_sq, unit_sq_, total_sq, l1_ = sums.tolist()
        affinity = 1 - (class_sq - unit_sq_) / (2 * pairs.layers * pairs.same) if pairs.same else 0.0
        dispersion = (total_sq - class_sq) / (2 * pairs.layers * pairs.cross) if pairs.cross else 0.0
        ctx.save_for_backward(y, u, inv_norm, class_sums, total, inv_width)
        ctx.pairs = pairs
        return u.new_tensor([affinity, dispersion, l1_ / pairs.samples])  # (3,)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_terms: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        y, u, inv_norm, class_sums, total, inv_width = ctx.saved_tensors
        pairs: _Pairs = ctx.pairs
        grad_aff, grad_dis, grad_comp = grad_terms.tolist()
        a = -grad_aff / (pairs.layers * pairs.same) if pairs.same else 0.0
        b = grad_dis / (pairs.layers * pairs.cross) if pairs.cross else 0.0
        per_class = torch.add(b * total, class_sums, alpha=a - b)  # (K, ΣD) ∂L/∂u_i of a class-c sample
        g = per_class.index_select(0, y)  # (N, ΣD), without the −a·u_i part
        radial = _layer_sums(u * g, pairs.widths).mul_(inv_norm)  # (N, L) (u_i·g_i) / ||t_i|| per layer
        # ∂L/∂t_i = g_i / ||t_i|| − u_i (u_i·g_i) / ||t_i||, in g's buffer, layer by layer
        layers = zip(
            g.split(pairs.widths, dim=1),
            u.split(pairs.widths, dim=1),
            inv_norm.unbind(1),
            radial.unbind(1),
            strict=True,
        )
        for g_layer, u_layer, scale, along_u in layers:
            g_layer.mul_(scale[:, None]).addcmul_(u_layer, along_u[:, None], value=-1)
        g.add_(inv_width, alpha=grad_comp / pairs.samples)
        return (None, None, None, *g.split(pairs.widths, dim=1))


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
    return ModularLoss(torch.stack([torch.stack(aff).mean(), torch.stack(dis).mean(), torch.stack(comp).mean()]))
