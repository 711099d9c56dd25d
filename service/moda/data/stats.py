"""Per-channel statistics of a training set, expressed as the InputSpec the network normalises with."""

from __future__ import annotations

import torch

from service.moda.errors import InvalidInput
from service.moda.spec import InputSpec


def input_spec_from(x_train: torch.Tensor, pixel_max: float) -> InputSpec:
    """InputSpec of (N, C, H, W) raw pixels: population mean/std per channel, in raw units.

    var_mean runs in one pass without materialising a centred copy, which matters for CIFAR-sized
    tensors. A constant channel would have std 0 and make the network divide by zero, so it gets 1.0.
    """
    if x_train.shape[0] == 0:
        raise InvalidInput("the training set is empty: no input statistics")
    var, mean = torch.var_mean(x_train, dim=(0, 2, 3), correction=0)
    std = var.sqrt()
    return InputSpec(
        channels=int(x_train.shape[1]),
        height=int(x_train.shape[2]),
        width=int(x_train.shape[3]),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) if s > 0 else 1.0 for s in std),
        pixel_max=float(pixel_max),
    )
