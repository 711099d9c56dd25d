"""svhn: MATLAB files written with scipy, X as (H, W, C, N) and digit 0 stored as label 10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from service.moda.data import load_dataset
from service.moda.errors import DatasetUnavailable, InvalidInput


def write_svhn_split(path: Path, seed: int, y: list[int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(32, 32, 3, len(y)), dtype=np.uint8)
    savemat(path, {"X": x, "y": np.array(y, dtype=np.uint8).reshape(-1, 1)})
    return x


def test_svhn_layout_and_label_ten_is_digit_zero(tmp_path: Path) -> None:
    x_train = write_svhn_split(tmp_path / "train_32x32.mat", 1, [10, 1, 5, 9, 10])
    x_test = write_svhn_split(tmp_path / "test_32x32.mat", 2, [3, 10])
    ds = load_dataset("svhn", tmp_path)

    assert ds.x_train.shape == (5, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.y_train.tolist() == [0, 1, 5, 9, 0]
    assert ds.y_test.tolist() == [3, 0]
    assert ds.labels == [str(d) for d in range(10)]
    # x[n, c, h, w] == X[h, w, c, n]: positions with h != w catch a swapped height/width.
    assert ds.x_train[1, 2, 0, 31].item() == float(x_train[0, 31, 2, 1])
    assert ds.x_train[4, 0, 17, 3].item() == float(x_train[17, 3, 0, 4])
    assert ds.x_test[1, 1, 30, 2].item() == float(x_test[30, 2, 1, 1])
    assert torch.equal(ds.x_test, torch.from_numpy(x_test.transpose(3, 2, 0, 1).astype(np.float32)))
    assert ds.x_train.is_contiguous()
    assert ds.input_spec.shape == (3, 32, 32) and ds.input_spec.pixel_max == 255.0


def test_svhn_missing_test_file_is_named(tmp_path: Path) -> None:
    write_svhn_split(tmp_path / "train_32x32.mat", 1, [1, 2])
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("svhn", tmp_path)
    assert "test_32x32.mat" in str(info.value) and "train_32x32.mat" not in str(info.value)


def invalid_train_file_message(tmp_path: Path) -> str:
    """The INVALID_ARGUMENT message of loading tmp_path, whose train file the test wrote, beside a valid test file."""
    write_svhn_split(tmp_path / "test_32x32.mat", 2, [1])
    with pytest.raises(InvalidInput) as info:
        load_dataset("svhn", tmp_path)
    return str(info.value)


def test_svhn_label_out_of_range_is_invalid(tmp_path: Path) -> None:
    write_svhn_split(tmp_path / "train_32x32.mat", 1, [1, 11])
    assert "train_32x32.mat" in invalid_train_file_message(tmp_path)


def test_svhn_not_a_mat_file_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "train_32x32.mat").write_bytes(b"definitely not MATLAB")
    assert "train_32x32.mat" in invalid_train_file_message(tmp_path)


def test_svhn_missing_variable_is_invalid(tmp_path: Path) -> None:
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 1), np.uint8)})
    assert "'y'" in invalid_train_file_message(tmp_path)
