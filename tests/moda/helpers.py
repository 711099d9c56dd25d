"""Small builders shared by the ML-core tests."""

from __future__ import annotations

import torch

from service.moda.nets import ArchConfig, ModularNet, build_model
from service.moda.spec import InputSpec

SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar": (3, 32, 32)}


def spec_for(shape: tuple[int, int, int], pixel_max: float = 255.0) -> InputSpec:
    c, h, w = shape
    return InputSpec(c, h, w, mean=(pixel_max / 3,) * c, std=(pixel_max / 4,) * c, pixel_max=pixel_max)


def random_model(arch: str, shape: tuple[int, int, int], num_classes: int = 10, seed: int = 0) -> ModularNet:
    """A model with random weights and random (non-trivial) BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = build_model(ArchConfig(arch, spec_for(shape), num_classes))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


def random_pixels(n: int, shape: tuple[int, int, int], seed: int = 1, pixel_max: float = 255.0) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * pixel_max
