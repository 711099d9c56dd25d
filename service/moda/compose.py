"""Composition: a physically smaller dense network for any set of classes of one model.

For classes K: each modular layer keeps the union of the classes' masks; a neuron space keeps the
union over its layers (so residual additions and depthwise convs stay consistent); the output keeps
the rows of K in sorted order. Every weight, bias and BatchNorm statistic is sliced along the
dimensions its architecture maps to spaces, and the result is the same architecture built with the
smaller widths.

Exact property: the composed logits equal the original logits of K when every neuron outside the
kept spaces is forced to 0 (`Tap(keep=plan.layer_keep(model))`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from service.moda.decompose import ClassMask
from service.moda.nets import OUTPUT_SPACE, ArchConfig, Dim, ModularNet, build_model, config_of


@dataclass(frozen=True)
class KeepPlan:
    """Which neurons of every space (and which output classes) a composition keeps."""

    spaces: dict[str, torch.Tensor]  # space -> bool (width,); OUTPUT_SPACE -> bool (classes,)

    @property
    def classes(self) -> list[int]:
        return self.spaces[OUTPUT_SPACE].nonzero().flatten().tolist()

    def layer_keep(self, model: ModularNet) -> list[torch.Tensor]:
        """The keep mask of every modular layer: its space's mask."""
        return [self.spaces[s] for s in model.layer_spaces()]

    def widths(self) -> dict[str, int]:
        return {s: int(m.sum()) for s, m in self.spaces.items() if s != OUTPUT_SPACE}


def keep_plan(model: ModularNet, masks: Sequence[ClassMask]) -> KeepPlan:
    """The plan composing the classes of `masks` (one ClassMask per selected class)."""
    if not masks:
        raise ValueError("a composition needs at least one class")
    spaces = {s: torch.zeros(w, dtype=torch.bool) for s, w in model.widths.items()}
    for mask in masks:
        for space, layer_mask in zip(model.layer_spaces(), mask.layers, strict=True):
            spaces[space] |= layer_mask.cpu()
    out = torch.zeros(model.num_classes, dtype=torch.bool)
    out[[m.class_index for m in masks]] = True
    return KeepPlan(spaces | {OUTPUT_SPACE: out})


def _dim_index(dim: Dim, plan: KeepPlan) -> torch.Tensor:
    kept = plan.spaces[dim.space].nonzero().flatten()  # (k,)
    return (kept[:, None] * dim.repeat + torch.arange(dim.repeat)).flatten()  # (k·repeat,)


def sliced_state_dict(model: ModularNet, plan: KeepPlan) -> dict[str, torch.Tensor]:
    spaces = model.param_spaces()
    state = {}
    for name, tensor in model.state_dict().items():
        for axis, dim in enumerate(spaces.get(name, ())):
            if dim is not None:
                tensor = tensor.index_select(axis, _dim_index(dim, plan).to(tensor.device))
        state[name] = tensor.clone()
    return state


def compose(model: ModularNet, plan: KeepPlan) -> ModularNet:
    """The smaller network (eval mode, on the model's device) computing the kept classes' logits."""
    source = config_of(model)
    full = model.default_widths()
    config = ArchConfig(
        arch=source.arch,
        input_spec=source.input_spec,
        num_classes=len(plan.classes),
        widths={s: w for s, w in plan.widths().items() if w != full[s]},
    )
    composed = build_model(config)
    composed.load_state_dict(sliced_state_dict(model, plan), strict=True)
    device = next(model.parameters()).device
    return composed.to(device).eval()


def _kept_size(shape: torch.Size, dims: Sequence[Dim | None], plan: KeepPlan) -> int:
    size = 1
    for extent, dim in zip(shape, dims or (None,) * len(shape), strict=True):
        size *= extent if dim is None else int(plan.spaces[dim.space].sum()) * dim.repeat
    return size


def param_count(model: ModularNet, plan: KeepPlan | None = None) -> int:
    """Parameters of the model, or of the composition `plan` would build (without building it)."""
    if plan is None:
        return sum(p.numel() for p in model.parameters())
    spaces = model.param_spaces()
    return sum(_kept_size(p.shape, spaces.get(n, ()), plan) for n, p in model.named_parameters())


def shared_param_count(model: ModularNet, a: KeepPlan, b: KeepPlan) -> int:
    """|params(a) ∩ params(b)|: parameter entries both compositions keep."""
    both = KeepPlan({s: a.spaces[s] & b.spaces[s] for s in a.spaces})
    return param_count(model, both)
