"""ResNet-18, CIFAR variant: a 3×3 stem and four stages of two basic blocks, global average pool.

The outputs of a stage's blocks are added to each other through the identity shortcuts, so they
share one neuron space (`s0`..`s3`, the stem belongs to `s0`); each block's inner layer has its own.
"""

from __future__ import annotations

import torch
from torch import nn

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

STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, inner: int, c_out: int, stride: int, project: bool) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, inner, 3, stride)
        self.conv2 = conv_bn(inner, c_out, 3)
        # Projection is structural (first block of stages 2-4), not inferred from widths, so a
        # composed network whose widths happen to match keeps the same wiring.
        self.shortcut = conv_bn(c_in, c_out, 1, stride) if project else nn.Identity()

    def forward(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        h = relu(self.conv1(x), tap)  # (N, inner, H', W')
        return relu(self.conv2(h) + self.shortcut(x), tap)  # (N, c_out, H', W')


def _blocks() -> list[tuple[int, int, int]]:
    """(stage, block index within stage, global block index) for every block."""
    return [
        (s, b, s * BLOCKS_PER_STAGE + b) for s in range(len(STAGE_WIDTHS)) for b in range(BLOCKS_PER_STAGE)
    ]


class ResNet18(ModularNet):
    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None = None) -> None:
        super().__init__(spec, num_classes, widths)
        w = self.widths
        self.stem = conv_bn(spec.channels, w["s0"], 3)
        blocks = []
        for stage, b, g in _blocks():
            c_in = w[f"s{stage - 1}"] if (b == 0 and stage > 0) else w[f"s{stage}"]
            stride = 2 if (b == 0 and stage > 0) else 1
            blocks.append(BasicBlock(c_in, w[f"i{g}"], w[f"s{stage}"], stride, project=stride == 2))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(w[f"s{len(STAGE_WIDTHS) - 1}"], num_classes)

    @classmethod
    def default_widths(cls) -> dict[str, int]:
        stages = {f"s{s}": c for s, c in enumerate(STAGE_WIDTHS)}
        inner = {f"i{g}": STAGE_WIDTHS[s] for s, _, g in _blocks()}
        return stages | inner

    def layer_spaces(self) -> list[str]:
        spaces = ["s0"]
        for stage, _, g in _blocks():
            spaces += [f"i{g}", f"s{stage}"]
        return spaces

    def param_spaces(self) -> ParamSpaces:
        spaces = conv_bn_spaces("stem", "s0", None)
        for stage, b, g in _blocks():
            inp = f"s{stage - 1}" if (b == 0 and stage > 0) else f"s{stage}"
            spaces |= conv_bn_spaces(f"blocks.{g}.conv1", f"i{g}", inp)
            spaces |= conv_bn_spaces(f"blocks.{g}.conv2", f"s{stage}", f"i{g}")
            if b == 0 and stage > 0:
                spaces |= conv_bn_spaces(f"blocks.{g}.shortcut", f"s{stage}", inp)
        return spaces | linear_spaces("head", OUTPUT_SPACE, Dim(f"s{len(STAGE_WIDTHS) - 1}"))

    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        x = relu(self.stem(x), tap)  # (N, 64, H, W)
        for block in self.blocks:
            x = block(x, tap)
        return self.head(x.mean(dim=(2, 3)))  # (N, 512) -> (N, classes)
