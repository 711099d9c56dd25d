"""ResNet-18, CIFAR variant: a 3×3 stem and four stages of two basic blocks, global average pool.

The outputs of a stage's blocks are added to each other through the identity shortcuts, so they
share one neuron space (`s0`..`s3`, the stem belongs to `s0`); each block's inner layer has its own.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Block:
    stage: int
    index: int  # global block index
    downsample: bool  # first block of stages 2-4: stride 2 and a projection shortcut

    @property
    def inner(self) -> str:
        return f"i{self.index}"  # the space of the block's first layer, its own

    @property
    def space(self) -> str:  # the stage's space, shared by its blocks' outputs
        return f"s{self.stage}"

    @property
    def input_space(self) -> str:
        return f"s{self.stage - 1}" if self.downsample else self.space


def _blocks() -> list[_Block]:
    """Every block, in forward order."""
    return [
        _Block(s, s * BLOCKS_PER_STAGE + b, downsample=b == 0 and s > 0)
        for s in range(len(STAGE_WIDTHS))
        for b in range(BLOCKS_PER_STAGE)
    ]


class ResNet18(ModularNet):
    def __init__(self, spec: InputSpec, num_classes: int, widths: dict[str, int] | None = None) -> None:
        super().__init__(spec, num_classes, widths)
        w = self.widths
        self.stem = conv_bn(spec.channels, w["s0"], 3)
        self.blocks = nn.ModuleList(
            BasicBlock(w[b.input_space], w[b.inner], w[b.space], 2 if b.downsample else 1, b.downsample)
            for b in _blocks()
        )
        self.head = nn.Linear(w[f"s{len(STAGE_WIDTHS) - 1}"], num_classes)

    @classmethod
    def default_widths(cls) -> dict[str, int]:
        stages = {f"s{s}": c for s, c in enumerate(STAGE_WIDTHS)}
        inner = {b.inner: STAGE_WIDTHS[b.stage] for b in _blocks()}
        return stages | inner

    def layer_spaces(self) -> list[str]:
        spaces = ["s0"]
        for b in _blocks():
            spaces += [b.inner, b.space]
        return spaces

    def param_spaces(self) -> ParamSpaces:
        spaces = conv_bn_spaces("stem", "s0", None)
        for b in _blocks():
            spaces |= conv_bn_spaces(f"blocks.{b.index}.conv1", b.inner, b.input_space)
            spaces |= conv_bn_spaces(f"blocks.{b.index}.conv2", b.space, b.inner)
            if b.downsample:
                spaces |= conv_bn_spaces(f"blocks.{b.index}.shortcut", b.space, b.input_space)
        return spaces | linear_spaces("head", OUTPUT_SPACE, Dim(f"s{len(STAGE_WIDTHS) - 1}"))

    def features(self, x: torch.Tensor, tap: Tap | None) -> torch.Tensor:
        x = relu(self.stem(x), tap)  # (N, 64, H, W)
        for block in self.blocks:
            x = block(x, tap)
        return self.head(x.mean(dim=(2, 3)))  # (N, 512) -> (N, classes)
