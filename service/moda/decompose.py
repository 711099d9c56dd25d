"""Decomposition: which neurons each class uses.

rate[c][l][k] = fraction of class-c samples whose activation of neuron k in modular layer l is
non-zero (eval mode, over a dataset — the training set by default). A class's module keeps the
neurons with rate ≥ τ; a layer whose mask would be empty keeps its highest-rate neuron, and the
module records that it did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from service.moda.nets import ModularNet, Tap

DEFAULT_TAU = 0.9


@torch.no_grad()
def activation_rates(model: ModularNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> list[torch.Tensor]:
    """Per modular layer, a (classes, D) tensor of non-zero rates."""
    model.eval()
    device = next(model.parameters()).device
    k = model.num_classes
    active = [torch.zeros(k, d, dtype=torch.float64) for d in model.layer_widths()]  # counts (K, D)
    counts = torch.bincount(y, minlength=k).to(torch.float64)  # (K,)
    for first in range(0, len(x), batch_size):
        tap = Tap()
        model(x[first : first + batch_size].to(device), tap)
        onehot = torch.nn.functional.one_hot(y[first : first + batch_size], k).to(torch.float64)  # (B, K)
        for total, t in zip(active, tap.activations, strict=True):
            total += onehot.T @ (t.cpu() > 0).to(torch.float64)  # (K, D)
    return [(a / counts.clamp_min(1)[:, None]).float() for a in active]


@dataclass(frozen=True)
class ClassMask:
    """The neurons one class keeps, per modular layer."""

    class_index: int
    layers: list[torch.Tensor]  # bool (D_l,) per modular layer
    fallback_layers: list[int]  # layers whose mask would have been empty

    @property
    def used_fallback(self) -> bool:
        return bool(self.fallback_layers)

    def kept_fraction(self) -> float:
        """Fraction of all modular neurons kept (a quick, architecture-free summary)."""
        kept = sum(int(m.sum()) for m in self.layers)
        return kept / sum(m.numel() for m in self.layers)


def class_masks(rates: list[torch.Tensor], tau: float = DEFAULT_TAU) -> list[ClassMask]:
    """One ClassMask per class from the rates of `activation_rates`."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    num_classes = rates[0].shape[0]
    masks = []
    for c in range(num_classes):
        layers, fallback = [], []
        for i, rate in enumerate(rates):
            keep = rate[c] >= tau  # (D,)
            if not keep.any():
                keep = torch.zeros_like(keep)
                keep[rate[c].argmax()] = True
                fallback.append(i)
            layers.append(keep)
        masks.append(ClassMask(c, layers, fallback))
    return masks
