"""SVHN "cropped digits" (format 2): MATLAB files with X (32, 32, 3, N) and y (N, 1), digit 0 stored as 10."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.moda.data.build import build_dataset
from service.moda.data.dataset import ImageDataset
from service.moda.data.files import locate_files
from service.moda.errors import DatasetUnavailable, InvalidInput

SVHN_LABELS: tuple[str, ...] = tuple(str(d) for d in range(10))


def load_svhn(data_dir: str | Path | None) -> ImageDataset:
    train_path, test_path = locate_files("svhn", data_dir, ["train_32x32.mat", "test_32x32.mat"])
    x_train, y_train = _read_mat(train_path)
    x_test, y_test = _read_mat(test_path)
    return build_dataset("svhn", str(test_path.parent), x_train, y_train, x_test, y_test, SVHN_LABELS, pixel_max=255)


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # scipy is imported here so that importing the data package stays light for the other datasets.
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except OSError as exc:
        raise DatasetUnavailable(f"cannot read {path}: {exc}") from exc
    except Exception as exc:
        # loadmat reports corruption with ValueError, TypeError, NotImplementedError (v7.3/HDF5)...
        raise InvalidInput(f"{path} is not a readable .mat file: {exc}") from exc
    if "X" not in mat or "y" not in mat:
        raise InvalidInput(f"{path}: expected variables 'X' and 'y'")
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[2] != 3:
        raise InvalidInput(f"{path}: X must be (H, W, 3, N), got {x.shape}")
    y = y.reshape(-1)
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidInput(f"{path}: y must hold integers, got {y.dtype}")
    if y.size and (y.min() < 0 or y.max() > 10):
        raise InvalidInput(
            f"{path}: labels span {y.min()}..{y.max()}, expected 1..10 (10 = digit 0)",
        )
    # SVHN stores the digit 0 as class 10.
    y = np.where(y == 10, 0, y).astype(np.int64)
    return x.transpose(3, 2, 0, 1), y  # (H, W, C, N) -> (N, C, H, W), a view; build_dataset copies once
