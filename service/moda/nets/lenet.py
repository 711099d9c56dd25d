"""LeNet-5: two 5×5 conv layers with max pooling, then 120-84 fully connected units."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from service.moda.nets.base import OUTPUT_SPACE, Dim, ModularNet, ParamSpaces, Tap, linear_spaces, relu
from service.moda.spec import InputSpec


class LeNet5(ModularNet):
    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None = None) -> None:
        super().__init__(spec, num_classes, widths)
        w = self.widths
        # "Same" padding keeps small inputs (8×8 digits) alive through both poolings.
        self.conv1 = nn.Conv2d(spec.channels, w["c1"], 5, padding=2)
        self.conv2 = nn.Conv2d(w["c1"], w["c2"], 5, padding=2)
        self.spatial = (spec.height // 4) * (spec.width // 4)  # H×W after two 2×2 poolings
        self.fc1 = nn.Linear(w["c2"] * self.spatial, w["f1"])
        self.fc2 = nn.Linear(w["f1"], w["f2"])
        self.head = nn.Linear(w["f2"], num_classes)

    @classmethod
    def default_widths(cls) -> dict[str, int]:
        return {"c1": 6, "c2": 16, "f1": 120, "f2": 84}

    def layer_spaces(self) -> list[str]:
        return ["c1", "c2", "f1", "f2"]

    def param_spaces(self) -> ParamSpaces:
        return {
            "conv1.weight": (Dim("c1"), None, None, None),
            "conv1.bias": (Dim("c1"),),
            "conv2.weight": (Dim("c2"), Dim("c1"), None, None),
            "conv2.bias": (Dim("c2"),),
            **linear_spaces("fc1", "f1", Dim("c2", repeat=self.spatial)),
            **linear_spaces("fc2", "f2", Dim("f1")),
            **linear_spaces("head", OUTPUT_SPACE, Dim("f2")),
        }

    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        x = F.max_pool2d(relu(self.conv1(x), tap), 2)  # (N, c1, H/2, W/2)
        x = F.max_pool2d(relu(self.conv2(x), tap), 2)  # (N, c2, H/4, W/4)
        x = relu(self.fc1(x.flatten(1)), tap)  # (N, f1)
        x = relu(self.fc2(x), tap)  # (N, f2)
        return self.head(x)  # (N, classes)
