"""Turn the numpy arrays a loader read into a validated ImageDataset.

Every loader funnels through build_dataset, so the shape/label checks and the float32 conversion are
written once and a malformed file fails with the same kind of message whatever its format.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from service.moda.data.dataset import ImageDataset
from service.moda.data.stats import input_spec_from
from service.moda.errors import InvalidInput


def build_dataset(
    name: str,
    source: str,
    x_train: np.ndarray,  # (N, C, H, W), any real dtype, raw pixel scale
    y_train: np.ndarray,  # (N,) integer class indices
    x_test: np.ndarray,
    y_test: np.ndarray,
    labels: Sequence[str],
    pixel_max: float,
) -> ImageDataset:
    """Validate shapes and labels (INVALID_ARGUMENT naming `source`) and convert to tensors."""
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        _check_split(source, split, x, y, len(labels))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise InvalidInput(
            f"{source}: train images have shape {x_train.shape[1:]} but test images {x_test.shape[1:]}",
        )
    train = _to_float_tensor(x_train)
    return ImageDataset(
        name=name,
        x_train=train,
        y_train=torch.from_numpy(y_train.astype(np.int64)),
        x_test=_to_float_tensor(x_test),
        y_test=torch.from_numpy(y_test.astype(np.int64)),
        labels=[str(label) for label in labels],
        input_spec=input_spec_from(train, pixel_max),
    )


def _check_split(source: str, split: str, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    if x.ndim != 4:
        raise InvalidInput(f"{source}: {split} images must be (N, C, H, W), got {x.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise InvalidInput(
            f"{source}: {split} labels must be a 1-D integer array, got {y.dtype} {y.shape}",
        )
    if len(x) != len(y):
        raise InvalidInput(f"{source}: {len(x)} {split} images but {len(y)} {split} labels")
    if len(y) == 0:
        raise InvalidInput(f"{source}: the {split} split is empty")
    check_label_range(f"{source} ({split} split)", y, num_classes)


def check_label_range(source: str, y: np.ndarray, num_classes: int) -> None:
    """INVALID_ARGUMENT unless every label is a class index; loaders call it per file to name the file."""
    if y.size == 0:
        return
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise InvalidInput(f"{source}: labels span {low}..{high}, outside 0..{num_classes - 1}")


def _to_float_tensor(x: np.ndarray) -> torch.Tensor:
    # One allocation: the float32 copy is also the contiguous (N, C, H, W) layout, even when x is a
    # transposed view (SVHN, channels-last npz). An array that already is float32 is shared, not copied.
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
