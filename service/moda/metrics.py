"""The paper's metrics: module size, overlap, composed accuracy, and the cost of a network (MACs)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from service.moda.compose import KeepPlan, param_count, shared_param_count
from service.moda.nets import ModularNet


@dataclass(frozen=True)
class Overlap:
    shared: float  # |params(a) ∩ params(b)| / params(model), as the paper reports it
    jaccard: float  # |a ∩ b| / |a ∪ b|


def module_sizes(model: ModularNet, plans: Sequence[KeepPlan]) -> list[float]:
    """params(module) / params(model) for each module's plan."""
    total = param_count(model)
    return [param_count(model, p) / total for p in plans]


def overlap_matrix(model: ModularNet, plans: Sequence[KeepPlan]) -> list[list[Overlap]]:
    """The overlap of every pair of modules (symmetric; a module with itself on the diagonal)."""
    total = param_count(model)
    sizes = [param_count(model, p) for p in plans]
    matrix = [[Overlap(size / total, 1.0) for _ in plans] for size in sizes]
    for i, j in itertools.combinations(range(len(plans)), 2):
        both = shared_param_count(model, plans[i], plans[j])
        matrix[i][j] = matrix[j][i] = Overlap(both / total, both / (sizes[i] + sizes[j] - both))
    return matrix


def mean_overlap(model: ModularNet, plans: Sequence[KeepPlan]) -> Overlap:
    """Mean over all pairs of modules."""
    matrix = overlap_matrix(model, plans)
    pairs = [matrix[i][j] for i, j in itertools.combinations(range(len(plans)), 2)]
    return Overlap(sum(p.shared for p in pairs) / len(pairs), sum(p.jaccard for p in pairs) / len(pairs))


def restricted_accuracy(logits: torch.Tensor, y: torch.Tensor, classes: Sequence[int]) -> float:
    """Accuracy on the samples of `classes`, argmax over those classes only.

    `logits` has one column per class of `classes` (sorted), as a composition outputs them, or
    one per class of the full model (then the columns of `classes` are picked).
    """
    classes = sorted(classes)
    chosen = torch.isin(y, torch.tensor(classes))
    if logits.shape[1] != len(classes):
        logits = logits[:, classes]
    predicted = torch.tensor(classes)[logits[chosen].argmax(dim=1)]
    return 100.0 * (predicted == y[chosen]).float().mean().item()


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one sample through every conv and linear layer."""
    macs = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        per_output = (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
        macs += out[0].numel() * per_output

    def linear_hook(module: nn.Linear, _inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        macs += module.in_features * module.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            model(example[:1].to(next(model.parameters()).device))
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return macs


def per_class_accuracy(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[float]:
    """Accuracy (percent) on the samples of each class 0..num_classes-1; NaN for a class without samples."""
    predicted = logits.argmax(dim=1)
    return [100.0 * (predicted[y == c] == c).float().mean().item() for c in range(num_classes)]
