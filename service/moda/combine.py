"""Classifiers made of several networks: cross-model compositions and module replacement.

Logits of different networks are not on one scale, so a combined classifier may end in a
calibration layer: a K×K linear map fitted on data while every source network stays frozen.

    CombinedClassifier(parts, picks)   output k = column picks[k].column of parts[picks[k].part]
    fit_calibration(combined, x, y)    the calibration layer, from the frozen parts' logits

Replacement (the paper's RQ2) is one use: the weak model's logits for its other classes and the
strong model's module for the weak class, calibrated together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from service.moda.nets import ModularNet
from service.moda.spec import InputSpec
from service.moda.training import accuracy


@dataclass(frozen=True)
class Pick:
    part: int  # which source network
    column: int  # which of its outputs


class CombinedClassifier(nn.Module):
    """Runs each source network once on the same input and picks the selected outputs."""

    pick_index: torch.Tensor  # a buffer, registered below

    def __init__(
        self,
        parts: Sequence[ModularNet],
        picks: Sequence[Pick],
        spec: InputSpec,
        calibration: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.spec = spec
        self.num_classes = len(picks)
        widths = [part.num_classes for part in parts]
        offsets = [sum(widths[:i]) for i in range(len(widths))]
        # A fixed index into the concatenated logits: exports as one Gather.
        self.register_buffer("pick_index", torch.tensor([offsets[p.part] + p.column for p in picks]))
        self.calibration = calibration

    def raw_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Before calibration: (N, C, H, W) raw pixels -> (N, K)."""
        return torch.cat([part(x) for part in self.parts], dim=1)[:, self.pick_index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.raw_logits(x)  # (N, K)
        return z if self.calibration is None else self.calibration(z)


@dataclass(frozen=True)
class Calibration:
    layer: nn.Linear
    train_loss: float
    train_accuracy: float  # percent, on the fitting data


@torch.no_grad()
def _frozen_logits(combined: CombinedClassifier, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    combined.eval()
    return torch.cat([combined.raw_logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def fit_calibration(
    combined: CombinedClassifier, x: torch.Tensor, y: torch.Tensor, steps: int = 200, penalty: float = 1e-3
) -> Calibration:
    """Fit a K×K linear calibration on (x, y) — y indexes the combined outputs — with the parts frozen.

    The parts run once over the data; the layer then trains on their logits alone (full-batch
    L-BFGS, deterministic), starting from the identity: the uncalibrated combination. The penalty
    pulls back toward the identity, so a few hundred samples cannot overfit its K² weights.
    """
    z = _frozen_logits(combined, x)  # (N, K)
    k = combined.num_classes
    identity = torch.eye(k)
    layer = nn.Linear(k, k)
    with torch.no_grad():
        layer.weight.copy_(identity)
        layer.bias.zero_()
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(z), y) + penalty * (layer.weight - identity).square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        out = layer(z)
        loss = F.cross_entropy(out, y).item()
    return Calibration(layer.eval(), loss, accuracy(out, y))
