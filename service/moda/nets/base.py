"""What every architecture shares: input normalisation, the activation tap, and the neuron-space map.

A *modular layer* is the output of a hidden ReLU. Each one belongs to a *neuron space*: a set of
channels/units that must be kept or removed together. Most layers own their space; layers tied by
the network's wiring share one (both inputs of a residual add, a depthwise conv and the layer feeding
it), which is how composition keeps additions and depthwise convs consistent.

Every parameter and buffer declares which space indexes each of its dimensions (`ParamSpaces`).
Composition and the size/overlap metrics are then generic: they only read that map.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from service.moda.spec import InputSpec

OUTPUT_SPACE = "out"  # the class logits; composition keeps the selected classes' rows


@dataclass(frozen=True)
class Dim:
    """A tensor dimension indexed by a neuron space.

    `repeat` > 1 is a flattened conv output: index j belongs to channel j // repeat.
    """

    space: str
    repeat: int = 1


ParamSpaces = dict[str, tuple[Dim | None, ...]]  # state-dict name -> per-dimension space (None: kept whole)


@dataclass(frozen=True)
class DepthwiseTie:
    """A depthwise conv+BN+ReLU reading, channel for channel, the output of the layer before it.

    Both layers share one space, which keeps the channels both masks keep. A channel only the
    depthwise layer keeps reads a pruned (zero) input, so its output is a constant; composition
    folds that constant into the BatchNorm after the next conv instead of keeping the channel.
    """

    space: str
    producer_layer: int  # modular-layer index of the layer whose output the depthwise conv reads
    depthwise_layer: int  # modular-layer index of the depthwise conv's ReLU output
    producer_bn: str  # module path of the BatchNorm that ends the producer
    depthwise_bn: str  # module path of the depthwise conv's BatchNorm
    next_conv: str  # module path of the conv reading the depthwise output (1×1, no bias)
    next_bn: str  # module path of the BatchNorm after it


class _ReluChannelMean(torch.autograd.Function):
    """relu(x) and its per-channel spatial mean in one node, with a single fused backward.

    Autograd's own graph for `relu` then `mean` materialises the mean's gradient at full size and
    adds it to the ReLU's in a second buffer. Here the backward allocates one buffer, as ReLU's own
    backward does, and masks it in place: on CPU a fresh activation-sized buffer costs page faults
    over its whole size, which was most of the tap's cost.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.relu(x)  # (N, C, H, W)
        ctx.save_for_backward(a)
        return a, _spatial_mean(a)  # (N, C, H, W), (N, C)

    @staticmethod
    def backward(
        ctx: Any,  # torch's FunctionCtx type lacks `saved_tensors`, which autograd gives the backward pass
        grad_a: torch.Tensor | None,
        grad_t: torch.Tensor | None,
    ) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        if grad_t is None:
            assert grad_a is not None
            return torch.ops.aten.threshold_backward(grad_a, a, 0)
        share = (grad_t / (a.shape[2] * a.shape[3]))[:, :, None, None]  # (N, C, 1, 1)
        grad = share.expand_as(a).clone() if grad_a is None else grad_a + share  # the one new buffer
        return torch.ops.aten.threshold_backward.grad_input(grad, a, 0, grad_input=grad)  # masked in place


def _spatial_mean(a: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C). On small maps (deep layers: 4×4, 2×2) torch's mean pays a fixed cost
    per row of H·W values and takes 8-16x as long as the ReLU that made them; a product with a
    (H·W,) vector of 1/(H·W) goes through BLAS at memory speed. On large maps the mean is faster."""
    n, c, h, w = a.shape
    if h * w >= 64 or not a.is_contiguous():
        return a.mean(dim=(2, 3))
    return torch.mv(a.view(n * c, h * w), _mean_weights(h * w, a.dtype, a.device)).view(n, c)


@functools.lru_cache(maxsize=64)
def _mean_weights(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.full((size,), 1.0 / size, dtype=dtype, device=device)


class Tap:
    """Sees every modular layer's pre-activation, in forward order, and applies the ReLU.

    It records the per-neuron activation `t` (conv: mean |a| over H×W; post-ReLU values are
    non-negative, so a plain mean) for the MODA losses and the decomposition, and can force neurons
    to zero (the reference semantics of a composed network).
    """

    def __init__(self, record: bool = True, keep: Sequence[torch.Tensor] | None = None) -> None:
        self.record = record
        self.keep = keep  # per modular layer, bool (D,): False forces the neuron to 0
        self.activations: list[torch.Tensor] = []
        self._layer = 0

    def relu(self, z: torch.Tensor) -> torch.Tensor:
        if self.keep is not None:
            mask = self.keep[self._layer].to(z.dtype)
            a = torch.relu(z) * (mask.view(1, -1, 1, 1) if z.dim() == 4 else mask)
            t = a.mean(dim=(2, 3)) if a.dim() == 4 else a
        elif z.dim() == 4 and self.record:
            a, t = _ReluChannelMean.apply(z)  # type: ignore[no-untyped-call]  # torch leaves apply unannotated
        else:
            a = t = torch.relu(z)
        if self.record:
            self.activations.append(t)  # (N, D)
        self._layer += 1
        return a


def relu(z: torch.Tensor, tap: Tap | None) -> torch.Tensor:
    """The ReLU of a modular layer: plain, or through the tap."""
    return torch.relu(z) if tap is None else tap.relu(z)


class Normalize(nn.Module):
    """(x - mean) / std on raw pixels, inside the network so exported graphs take raw pixels."""

    mean: torch.Tensor  # buffers, registered below
    std: torch.Tensor

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        # Not persistent: derived from the config, so uploaded state dicts need not carry them.
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std  # (N, C, H, W)


class ModularNet(nn.Module, ABC):
    """A classifier whose hidden ReLU outputs are tapped and whose neurons are grouped in spaces.

    Subclasses are built from (input spec, number of classes, widths): `widths` maps each space to
    its size, so a composed network is the same class built with smaller widths.
    """

    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None) -> None:
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        defaults = self.default_widths()
        unknown = set(widths or {}) - set(defaults)
        if unknown:
            raise ValueError(f"unknown neuron spaces {sorted(unknown)} for {type(self).__name__}")
        self.widths = {**defaults, **(widths or {})}
        self.normalize = Normalize(spec)

    @classmethod
    @abstractmethod
    def default_widths(cls) -> dict[str, int]:
        """Full width of every neuron space (the output space excluded)."""

    @abstractmethod
    def layer_spaces(self) -> list[str]:
        """The space of each modular layer, in the order the tap sees them."""

    @abstractmethod
    def param_spaces(self) -> ParamSpaces:
        """For every state-dict entry with a sliceable dimension, the space of each dimension."""

    @abstractmethod
    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        """Normalised input (N, C, H, W) -> logits (N, num_classes)."""

    def depthwise_ties(self) -> list[DepthwiseTie]:
        """Spaces tied by depthwise convs (see DepthwiseTie); other shared spaces keep the union."""
        return []

    def forward(self, x: torch.Tensor, tap: Tap | None = None) -> torch.Tensor:
        return self.features(self.normalize(x), tap)

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        tap = Tap()
        logits = self(x, tap)
        return logits, tap.activations

    def layer_widths(self) -> list[int]:
        return [self.widths[space] for space in self.layer_spaces()]


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias: BatchNorm follows) + BatchNorm, the unit every CNN here is made of."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    )


def conv_bn_spaces(prefix: str, out: str, inp: str | None, depthwise: bool = False) -> ParamSpaces:
    """Space map of a `conv_bn` unit registered under `prefix` (conv at .0, BatchNorm at .1)."""
    in_dim = None if (inp is None or depthwise) else Dim(inp)
    return {
        f"{prefix}.0.weight": (Dim(out), in_dim, None, None),
        **{f"{prefix}.1.{name}": (Dim(out),) for name in ("weight", "bias", "running_mean", "running_var")},
    }


def linear_spaces(prefix: str, out: str, inp: Dim | None) -> ParamSpaces:
    return {f"{prefix}.weight": (Dim(out), inp), f"{prefix}.bias": (Dim(out),)}
