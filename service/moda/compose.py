"""Composition: a physically smaller dense network for any set of classes of one model.

For classes K: each modular layer keeps the union of the classes' masks; a neuron space keeps the
union over its layers (so residual additions stay consistent), except a space tied by a depthwise
conv, which keeps the channels both its layers keep and folds the depthwise layer's other channels
(constants, since their input is pruned) into the next BatchNorm; the output keeps the rows of K
in sorted order. Every weight, bias and BatchNorm statistic is sliced along the
dimensions its architecture maps to spaces, and the result is the same architecture built with the
smaller widths.

Exact property: the composed logits equal the original logits of K when every neuron a layer does
not keep is forced to 0 (`Tap(keep=plan.layer_keep(model))`).

Hardware alignment: pruned widths such as 31 or 957 channels fall off the blocked (NCHWc) kernels
of ONNX Runtime and oneDNN, which then run plain fallbacks plus layout reorders, slower than the
full model. `compose(..., align=16)` pads every space up to a multiple of 16 (never beyond the
model's own width) with channels whose weights are zero on both sides: they output 0 and nothing
reads them, so the logits are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from service.moda.decompose import ClassMask
from service.moda.nets import OUTPUT_SPACE, ArchConfig, Dim, ModularNet, build_model, config_of


@dataclass(frozen=True)
class KeepPlan:
    """Which neurons of every space (and which output classes) a composition keeps.

    `layers` is the reference semantics: per modular layer, the neurons not forced to 0. It equals
    the layer's space mask except around a depthwise tie, where the depthwise layer keeps its own
    mask (`folded` lists the channels whose constant output is folded away, per tied space) and a
    producer channel kept only to give the space a width is forced to 0 (`zeroed`).
    """

    spaces: dict[str, torch.Tensor]  # space -> bool (width,); OUTPUT_SPACE -> bool (classes,)
    layers: list[torch.Tensor] = field(default_factory=list)  # per modular layer, bool (D_l,)
    folded: dict[str, torch.Tensor] = field(default_factory=dict)  # tied space -> bool (width,)
    zeroed: dict[str, torch.Tensor] = field(default_factory=dict)  # tied space -> bool (width,)

    @property
    def classes(self) -> list[int]:
        return self.spaces[OUTPUT_SPACE].nonzero().flatten().tolist()

    def layer_keep(self, model: ModularNet) -> list[torch.Tensor]:
        """The keep mask of every modular layer, for `Tap(keep=...)`."""
        return self.layers or [self.spaces[s] for s in model.layer_spaces()]

    def widths(self) -> dict[str, int]:
        return {s: int(m.sum()) for s, m in self.spaces.items() if s != OUTPUT_SPACE}


def keep_plan(model: ModularNet, masks: Sequence[ClassMask]) -> KeepPlan:
    """The plan composing the classes of `masks` (one ClassMask per selected class)."""
    if not masks:
        raise ValueError("a composition needs at least one class")
    layers = [torch.zeros(w, dtype=torch.bool) for w in model.layer_widths()]
    for mask in masks:
        for union, layer_mask in zip(layers, mask.layers, strict=True):
            union |= layer_mask.cpu()
    spaces = {s: torch.zeros(w, dtype=torch.bool) for s, w in model.widths.items()}
    for space, layer_mask in zip(model.layer_spaces(), layers, strict=True):
        spaces[space] |= layer_mask  # shared spaces keep the union (residual additions)
    folded, zeroed = {}, {}
    for tie in model.depthwise_ties():
        produced, depthwise = layers[tie.producer_layer], layers[tie.depthwise_layer]
        both = produced & depthwise
        zero = torch.zeros_like(both)
        if not both.any():  # a conv needs one channel: keep one the depthwise layer uses, input forced to 0
            zero[depthwise.nonzero()[0]] = True
        spaces[tie.space] = both | zero
        folded[tie.space] = depthwise & ~spaces[tie.space]
        zeroed[tie.space] = zero
    keep = [spaces[s] for s in model.layer_spaces()]
    for tie in model.depthwise_ties():
        keep[tie.producer_layer] = spaces[tie.space] & ~zeroed[tie.space]
        keep[tie.depthwise_layer] = layers[tie.depthwise_layer]
    out = torch.zeros(model.num_classes, dtype=torch.bool)
    out[[m.class_index for m in masks]] = True
    return KeepPlan(spaces | {OUTPUT_SPACE: out}, keep, folded, zeroed)


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


def _fold_depthwise_ties(model: ModularNet, plan: KeepPlan, state: dict[str, torch.Tensor]) -> None:
    """Depthwise channels on a pruned input output a constant; move it into the next BatchNorm.

    Channel k of a depthwise conv reading 0 outputs c_k = relu(β_k − γ_k·μ_k/σ_k) everywhere. The
    1×1 conv after it adds W[:, k]·c_k to every position, which the BatchNorm after that conv absorbs
    exactly as a shift of its running mean. Producer channels kept only for width output 0 (γ = β = 0).
    """
    param_spaces = model.param_spaces()
    for tie in model.depthwise_ties():
        kept = plan.spaces[tie.space]
        zeroed = plan.zeroed[tie.space][kept]
        state[f"{tie.producer_bn}.weight"][zeroed] = 0.0
        state[f"{tie.producer_bn}.bias"][zeroed] = 0.0
        folded = plan.folded[tie.space].nonzero().flatten()
        if not len(folded):
            continue
        bn = model.get_submodule(tie.depthwise_bn)
        assert isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight[folded] / torch.sqrt(bn.running_var[folded] + bn.eps)
        constants = torch.relu(bn.bias[folded] - bn.running_mean[folded] * scale)  # (F,)
        next_conv = model.get_submodule(tie.next_conv)
        assert isinstance(next_conv, nn.Conv2d)
        weight = next_conv.weight[:, folded, 0, 0]  # (out, F)
        next_space = param_spaces[f"{tie.next_bn}.running_mean"][0]
        assert next_space is not None
        rows = plan.spaces[next_space.space]  # (out,) the next conv's kept outputs
        state[f"{tie.next_bn}.running_mean"] -= (weight[rows] @ constants).detach()


def aligned_width(width: int, full: int, align: int) -> int:
    """`width` rounded up to a multiple of `align`, but never wider than the model's own `full` width."""
    return min(-(-width // align) * align, full)


def _padded(state: dict[str, torch.Tensor], template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` embedded at the start of every dimension of `template`'s wider tensors, zeros elsewhere.

    Padding channels come after the kept ones in every space (a flattened conv dimension included:
    channel k owns indices k·repeat .. k·repeat+repeat−1), so each real tensor is a leading block.
    Zero weights and biases on both sides make a padding channel output 0 and be read by nothing;
    a BatchNorm's running variance is 1 there so that its (zero) scale is well defined.
    """
    padded = {}
    for name, wide in template.items():
        real = state[name]
        block = torch.ones_like(wide) if name.endswith("running_var") else torch.zeros_like(wide)
        block[tuple(slice(0, extent) for extent in real.shape)] = real
        padded[name] = block
    return padded


def compose(model: ModularNet, plan: KeepPlan, align: int = 1) -> ModularNet:
    """The smaller network (eval mode, on the model's device) computing the kept classes' logits.

    `align` > 1 pads every neuron space to a multiple of it (see the module docstring)."""
    source = config_of(model)
    full = model.default_widths()
    widths = {s: aligned_width(w, full[s], align) for s, w in plan.widths().items()}
    config = ArchConfig(
        arch=source.arch,
        input_spec=source.input_spec,
        num_classes=len(plan.classes),
        widths={s: w for s, w in widths.items() if w != full[s]},
    )
    composed = build_model(config)
    state = sliced_state_dict(model, plan)
    with torch.no_grad():
        _fold_depthwise_ties(model, plan, state)
    if widths != plan.widths():
        state = _padded(state, composed.state_dict())
    composed.load_state_dict(state, strict=True)
    device = next(model.parameters()).device
    return composed.to(device).eval()


def compose_served(model: ModularNet, plan: KeepPlan, align: int) -> tuple[ModularNet, ModularNet]:
    """(served, kept): the composition padded to `align`, which is what runs, and the same without
    padding, which is what MODA's size and MAC figures count (one network when `align` is 1)."""
    kept = compose(model, plan)
    return (compose(model, plan, align) if align > 1 else kept), kept


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
