"""npz: a user's arrays in one archive, in any of the three common image layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from service.moda.data import load_dataset
from service.moda.errors import DatasetUnavailable, InvalidInput


def arrays(shape: tuple[int, ...], high: int = 256, seed: int = 0, **extra: Any) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n_test_shape = (2, *shape[1:])
    return {
        "x_train": rng.integers(0, high, size=shape).astype(np.uint8),
        "y_train": np.arange(shape[0]) % 3,
        "x_test": rng.integers(0, high, size=n_test_shape).astype(np.uint8),
        "y_test": np.array([2, 0]),
        **extra,
    }


def save(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "data.npz"
    np.savez(path, **data)
    return path


def load_error(path: Path) -> Exception:
    with pytest.raises((InvalidInput, DatasetUnavailable)) as info:
        load_dataset("npz", path)
    return info.value


def test_grayscale_without_channel_axis(tmp_path: Path) -> None:
    data = arrays((5, 4, 6))  # H=4 != W=6 so a swapped axis would show
    save(tmp_path, data)
    ds = load_dataset("npz", tmp_path)

    assert ds.x_train.shape == (5, 1, 4, 6) and ds.x_test.shape == (2, 1, 4, 6)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train[3, 0, 2, 5].item() == float(data["x_train"][3, 2, 5])
    assert ds.y_train.tolist() == [0, 1, 2, 0, 1] and ds.y_test.tolist() == [2, 0]
    assert ds.labels == ["0", "1", "2"]
    assert ds.input_spec.shape == (1, 4, 6) and ds.input_spec.pixel_max == 255.0


def test_channels_last_is_transposed(tmp_path: Path) -> None:
    data = arrays((5, 4, 6, 3))
    save(tmp_path, data)
    ds = load_dataset("npz", tmp_path)

    assert ds.x_train.shape == (5, 3, 4, 6)
    assert ds.x_train[1, 2, 3, 0].item() == float(data["x_train"][1, 3, 0, 2])
    assert torch.equal(ds.x_test, torch.from_numpy(data["x_test"].transpose(0, 3, 1, 2).astype(np.float32)))
    assert ds.x_train.is_contiguous()


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_first_is_kept(tmp_path: Path, channels: int) -> None:
    data = arrays((5, channels, 4, 6))
    save(tmp_path, data)
    ds = load_dataset("npz", tmp_path)
    assert ds.x_train.shape == (5, channels, 4, 6)
    assert ds.x_train[4, channels - 1, 3, 5].item() == float(data["x_train"][4, channels - 1, 3, 5])


def test_single_channel_last(tmp_path: Path) -> None:
    save(tmp_path, arrays((5, 4, 6, 1)))
    assert load_dataset("npz", tmp_path).x_train.shape == (5, 1, 4, 6)


def test_small_values_mean_digits_scale(tmp_path: Path) -> None:
    save(tmp_path, arrays((5, 8, 8), high=17))
    assert load_dataset("npz", tmp_path).input_spec.pixel_max == 16.0


def test_label_names_and_file_path_as_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays((5, 4, 4), labels=np.array(["cat", "dog", "eel", "fox"])))
    ds = load_dataset("npz", path)
    assert ds.labels == ["cat", "dog", "eel", "fox"]
    assert ds.num_classes == 4


def test_float_images_are_accepted(tmp_path: Path) -> None:
    data = arrays((5, 4, 4))
    data["x_train"] = data["x_train"].astype(np.float64) / 2 + 0.25
    save(tmp_path, data)
    ds = load_dataset("npz", tmp_path)
    assert ds.x_train[0, 0, 1, 2].item() == data["x_train"][0, 1, 2]


def test_missing_archive_is_unavailable(tmp_path: Path) -> None:
    err = load_error(tmp_path)
    assert isinstance(err, DatasetUnavailable)
    assert "data.npz" in str(err) and str(tmp_path) in str(err)
    assert isinstance(load_error(tmp_path / "nope.npz"), DatasetUnavailable)


def test_missing_arrays_are_named(tmp_path: Path) -> None:
    data = arrays((5, 4, 4))
    del data["y_test"], data["x_test"]
    err = load_error(save(tmp_path, data))
    assert isinstance(err, InvalidInput)
    assert "x_test" in str(err) and "y_test" in str(err)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"x_train": np.zeros((5, 5, 5, 5), np.uint8)}, "must be (N, H, W)"),
        ({"x_test": np.zeros((2, 5, 5), np.uint8)}, "train images have shape"),
        ({"y_train": np.arange(4)}, "5 train images but 4 train labels"),
        ({"y_train": np.linspace(0, 1, 5)}, "1-D integers"),
        ({"x_train": np.full((5, 4, 4), 300.0)}, "0..255"),
        ({"x_train": np.full((5, 4, 4), -1.0)}, "0..255"),
        ({"y_test": np.array([-1, 0])}, "outside"),
        ({"labels": np.array(["only-one"])}, "1 label names"),
        ({"labels": np.array([object()], dtype=object)}, "not a valid .npz"),
    ],
)
def test_malformed_arrays_are_invalid(tmp_path: Path, change: dict[str, Any], fragment: str) -> None:
    err = load_error(save(tmp_path, arrays((5, 4, 4)) | change))
    assert isinstance(err, InvalidInput)
    assert fragment in str(err)
    assert "data.npz" in str(err)


def test_not_a_zip_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "data.npz").write_bytes(b"PK but not really")
    err = load_error(tmp_path)
    assert isinstance(err, InvalidInput) and "data.npz" in str(err)
