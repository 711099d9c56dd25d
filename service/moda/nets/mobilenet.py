"""MobileNet v1, CIFAR variant: a 3×3 stem and 13 depthwise-separable blocks, global average pool.

A depthwise conv maps channel k to channel k, so its output shares the neuron space of its input:
space `p{j}` holds the output of pointwise layer j (the stem is `p0`) and of the depthwise conv
that reads it (a DepthwiseTie: the space keeps the channels both layers keep).
"""

from __future__ import annotations

import torch
from torch import nn

from service.moda.nets.base import (
    OUTPUT_SPACE,
    DepthwiseTie,
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

STEM_WIDTH = 32
# (pointwise output channels, depthwise stride) of the 13 blocks.
BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


class SeparableBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.dw = conv_bn(c_in, c_in, 3, stride, groups=c_in)
        self.pw = conv_bn(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        x = relu(self.dw(x), tap)  # (N, c_in, H', W')
        return relu(self.pw(x), tap)  # (N, c_out, H', W')


class MobileNetV1(ModularNet):
    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None = None) -> None:
        super().__init__(spec, num_classes, widths)
        w = self.widths
        self.stem = conv_bn(spec.channels, w["p0"], 3)
        self.blocks = nn.ModuleList(
            SeparableBlock(w[f"p{j}"], w[f"p{j + 1}"], stride) for j, (_, stride) in enumerate(BLOCKS)
        )
        self.head = nn.Linear(w[f"p{len(BLOCKS)}"], num_classes)

    @classmethod
    def default_widths(cls) -> dict[str, int]:
        return {"p0": STEM_WIDTH} | {f"p{j + 1}": c for j, (c, _) in enumerate(BLOCKS)}

    def layer_spaces(self) -> list[str]:
        spaces = ["p0"]
        for j in range(len(BLOCKS)):
            spaces += [f"p{j}", f"p{j + 1}"]
        return spaces

    def depthwise_ties(self) -> list[DepthwiseTie]:
        producers = ["stem.1"] + [f"blocks.{j - 1}.pw.1" for j in range(1, len(BLOCKS))]
        return [
            DepthwiseTie(
                space=f"p{j}",
                producer_layer=2 * j,  # stem, then each block's pointwise layer
                depthwise_layer=2 * j + 1,
                producer_bn=producers[j],
                depthwise_bn=f"blocks.{j}.dw.1",
                next_conv=f"blocks.{j}.pw.0",
                next_bn=f"blocks.{j}.pw.1",
            )
            for j in range(len(BLOCKS))
        ]

    def param_spaces(self) -> ParamSpaces:
        spaces = conv_bn_spaces("stem", "p0", None)
        for j in range(len(BLOCKS)):
            spaces |= conv_bn_spaces(f"blocks.{j}.dw", f"p{j}", None, depthwise=True)
            spaces |= conv_bn_spaces(f"blocks.{j}.pw", f"p{j + 1}", f"p{j}")
        return spaces | linear_spaces("head", OUTPUT_SPACE, Dim(f"p{len(BLOCKS)}"))

    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        x = relu(self.stem(x), tap)  # (N, 32, H, W)
        for block in self.blocks:
            x = block(x, tap)
        return self.head(x.mean(dim=(2, 3)))  # (N, 1024) -> (N, classes)
