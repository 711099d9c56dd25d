"""LeNet-300-100-style multilayer perceptron: 300-200-100 hidden units, each a modular layer."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from service.moda.nets.base import OUTPUT_SPACE, Dim, ModularNet, ParamSpaces, Tap, linear_spaces, relu
from service.moda.spec import InputSpec

HIDDEN = ("h0", "h1", "h2")


class MLP(ModularNet):
    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None = None) -> None:
        super().__init__(spec, num_classes, widths)
        sizes = [spec.numel, *(self.widths[s] for s in HIDDEN)]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.head = nn.Linear(sizes[-1], num_classes)

    @classmethod
    def default_widths(cls) -> dict[str, int]:
        return dict(zip(HIDDEN, (300, 200, 100), strict=True))

    def layer_spaces(self) -> list[str]:
        return list(HIDDEN)

    def param_spaces(self) -> ParamSpaces:
        spaces: ParamSpaces = {}
        inputs = [None, *(Dim(s) for s in HIDDEN)]
        for i, (space, inp) in enumerate(zip(HIDDEN, inputs, strict=False)):
            spaces |= linear_spaces(f"hidden.{i}", space, inp)
        return spaces | linear_spaces("head", OUTPUT_SPACE, Dim(HIDDEN[-1]))

    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        h = x.flatten(1)  # (N, C·H·W)
        for layer in self.hidden:
            h = relu(layer(h), tap)  # (N, D)
        return self.head(h)  # (N, classes)
