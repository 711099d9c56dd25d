"""VGG16 with BatchNorm, CIFAR variant: 13 3×3 conv layers, global average pool, one linear head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from service.moda.nets.base import (
    OUTPUT_SPACE,
    Dim,
    ModularNet,
    ParamSpaces,
    Tap,
    conv_bn,
    conv_bn_spaces,
    linear_spaces,
    relu,
)
from service.moda.spec import InputSpec

# Channels per conv layer; "M" is a 2×2 max pool.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
CONV_WIDTHS = [c for c in VGG16 if isinstance(c, int)]


class VGG16BN(ModularNet):
    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None = None) -> None:
        super().__init__(spec, num_classes, widths)
        self.convs = nn.ModuleList()
        self.pool_after: list[bool] = []
        c_in, size = spec.channels, min(spec.height, spec.width)
        for item in VGG16:
            if item == "M":
                # Small inputs (8×8 digits) would pool to nothing: pool only while there is room.
                if size >= 2:
                    self.pool_after[-1] = True
                    size //= 2
                continue
            c_out = self.widths[f"c{len(self.convs)}"]
            self.convs.append(conv_bn(c_in, c_out, 3))
            self.pool_after.append(False)
            c_in = c_out
        self.head = nn.Linear(c_in, num_classes)

    @classmethod
    def default_widths(cls) -> dict[str, int]:
        return {f"c{i}": c for i, c in enumerate(CONV_WIDTHS)}

    def layer_spaces(self) -> list[str]:
        return [f"c{i}" for i in range(len(CONV_WIDTHS))]

    def param_spaces(self) -> ParamSpaces:
        spaces: ParamSpaces = {}
        inp = None
        for i in range(len(self.convs)):
            spaces |= conv_bn_spaces(f"convs.{i}", f"c{i}", inp)
            inp = f"c{i}"
        assert inp is not None  # VGG16 has 13 convs
        return spaces | linear_spaces("head", OUTPUT_SPACE, Dim(inp))

    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        for conv, pool in zip(self.convs, self.pool_after, strict=True):
            x = relu(conv(x), tap)  # (N, c, H, W)
            if pool:
                x = F.max_pool2d(x, 2)
        return self.head(x.mean(dim=(2, 3)))  # (N, 512) -> (N, classes)
