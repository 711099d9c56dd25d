"""MNIST and Fashion-MNIST: four IDX files, gzipped or not, in one directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.moda.data.build import build_dataset, check_label_range
from service.moda.data.dataset import ImageDataset
from service.moda.data.files import locate_files
from service.moda.data.idx import read_idx
from service.moda.errors import InvalidInput

MNIST_LABELS: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_MNIST_LABELS: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Both datasets ship under the same file names; the gzipped name is tried first.
_FILES: tuple[tuple[str, str], ...] = tuple(
    (f"{stem}.gz", stem)
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
)


def load_mnist(data_dir: str | Path | None) -> ImageDataset:
    return _load_idx_dataset("mnist", data_dir, MNIST_LABELS)


def load_fashion_mnist(data_dir: str | Path | None) -> ImageDataset:
    return _load_idx_dataset("fashion-mnist", data_dir, FASHION_MNIST_LABELS)


def _load_idx_dataset(name: str, data_dir: str | Path | None, labels: tuple[str, ...]) -> ImageDataset:
    train_x, train_y, test_x, test_y = locate_files(name, data_dir, _FILES)
    x_train, y_train = _read_pair(train_x, train_y, len(labels))
    x_test, y_test = _read_pair(test_x, test_y, len(labels))
    return build_dataset(
        name,
        str(train_x.parent),
        x_train[:, None],  # (N, H, W) -> (N, 1, H, W)
        y_train,
        x_test[:, None],
        y_test,
        labels,
        pixel_max=255,
    )


def _read_pair(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InvalidInput(
            f"{images_path}: expected (N, H, W) unsigned bytes, got {images.dtype} {images.shape}",
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise InvalidInput(
            f"{labels_path}: expected (N,) unsigned bytes, got {labels.dtype} {labels.shape}",
        )
    if len(images) != len(labels):
        raise InvalidInput(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels",
        )
    check_label_range(str(labels_path), labels, num_classes)
    return images, labels
