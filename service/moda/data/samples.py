"""The samples of some classes of a dataset, relabelled by their position in a classifier's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from service.moda.data.dataset import ImageDataset


def samples_of(
    data: ImageDataset, labels: Sequence[str], split: Literal["train", "test"]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of the classes named `labels` (all in `data`), targets = position in `labels`: (N, C, H, W), (N,)."""
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    position = torch.full((data.num_classes,), -1, dtype=torch.int64)
    for i, label in enumerate(labels):
        position[data.labels.index(label)] = i
    target = position[y]
    keep = target >= 0
    return x[keep], target[keep]
