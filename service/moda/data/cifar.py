"""CIFAR-10 and CIFAR-100 in their "python version" archives: pickled dicts of uint8 arrays.

Each batch dict has b"data", (N, 3072) uint8 holding the red, green then blue 32x32 planes row-major
(so a plain reshape gives (N, 3, 32, 32)), and b"labels" (CIFAR-10) or b"fine_labels" (CIFAR-100).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from service.moda.data.build import build_dataset, check_label_range
from service.moda.data.dataset import ImageDataset
from service.moda.data.files import locate_files
from service.moda.data.safe_pickle import load_numpy_pickle
from service.moda.errors import InvalidInput

_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


def load_cifar10(data_dir: str | Path | None) -> ImageDataset:
    paths = locate_files(
        "cifar10", data_dir, [*_CIFAR10_TRAIN, "test_batch", "batches.meta"], subdirs=["cifar-10-batches-py"]
    )
    *train_paths, test_path, meta_path = paths
    labels = _label_names(meta_path, b"label_names")
    train = [_read_batch(p, b"labels", len(labels)) for p in train_paths]
    x_test, y_test = _read_batch(test_path, b"labels", len(labels))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    # Drop the per-batch arrays before the float32 conversion so they don't share its memory peak.
    del train
    return build_dataset("cifar10", str(test_path.parent), x_train, y_train, x_test, y_test, labels, pixel_max=255)


def load_cifar100(data_dir: str | Path | None) -> ImageDataset:
    train_path, test_path, meta_path = locate_files(
        "cifar100", data_dir, ["train", "test", "meta"], subdirs=["cifar-100-python"]
    )
    labels = _label_names(meta_path, b"fine_label_names")
    x_train, y_train = _read_batch(train_path, b"fine_labels", len(labels))
    x_test, y_test = _read_batch(test_path, b"fine_labels", len(labels))
    return build_dataset("cifar100", str(test_path.parent), x_train, y_train, x_test, y_test, labels, pixel_max=255)


def _read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _as_dict(path)
    data = _get(batch, b"data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", type(data).__name__)
        raise InvalidInput(f"{path}: b'data' must be (N, 3072) uint8, got {shape}")
    labels = np.asarray(_get(batch, label_key, path))
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInput(f"{path}: {label_key!r} must be a list of integers")
    if len(labels) != len(data):
        raise InvalidInput(f"{path}: {len(data)} images but {len(labels)} labels")
    check_label_range(str(path), labels, num_classes)
    return data.reshape(-1, 3, 32, 32), labels  # (N, 3072) -> (N, C, H, W), planes are R, G, B


def _label_names(path: Path, key: bytes) -> list[str]:
    names = _get(_as_dict(path), key, path)
    if not isinstance(names, list | tuple) or not all(isinstance(n, bytes | str) for n in names):
        raise InvalidInput(f"{path}: {key!r} must be a list of names")
    return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]


def _as_dict(path: Path) -> dict[Any, Any]:
    obj = load_numpy_pickle(path)
    if not isinstance(obj, dict):
        raise InvalidInput(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _get(d: dict[Any, Any], key: bytes, path: Path) -> Any:
    # The originals (Python 2) have bytes keys; a batch re-saved from Python 3 may have str keys.
    for candidate in (key, key.decode("ascii")):
        if candidate in d:
            return d[candidate]
    raise InvalidInput(f"{path}: missing key {key!r}")
