"""mnist / fashion-mnist: IDX files written here byte by byte, in the real layout."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from service.moda.data import load_dataset
from service.moda.data.idx import read_idx
from service.moda.errors import DatasetUnavailable, InvalidInput

FASHION = [
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
]
TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def idx_bytes(arr: np.ndarray) -> bytes:
    magic = struct.pack(">HBB", 0, TYPE_CODES[arr.dtype], arr.ndim)
    return magic + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray) -> Path:
    data = idx_bytes(arr)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def random_split(seed: int, n: int, h: int = 28, w: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def write_idx_dataset(directory: Path, gz: bool = True, n_train: int = 6) -> dict[str, np.ndarray]:
    ext = ".gz" if gz else ""
    x_train, y_train = random_split(1, n_train)
    x_test, y_test = random_split(2, 4)
    write_idx(directory / f"train-images-idx3-ubyte{ext}", x_train)
    write_idx(directory / f"train-labels-idx1-ubyte{ext}", y_train)
    write_idx(directory / f"t10k-images-idx3-ubyte{ext}", x_test)
    write_idx(directory / f"t10k-labels-idx1-ubyte{ext}", y_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_pixels_and_labels_exactly(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_dataset(tmp_path, gz=gz)
    ds = load_dataset("mnist", tmp_path)

    assert ds.x_train.shape == (6, 1, 28, 28) and ds.x_test.shape == (4, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train[3, 0, 5, 17].item() == float(arrays["x_train"][3, 5, 17])
    assert ds.x_test[1, 0, 27, 0].item() == float(arrays["x_test"][1, 27, 0])
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(arrays["x_train"].astype(np.float32)))
    assert ds.y_train.tolist() == arrays["y_train"].tolist()
    assert ds.y_test.tolist() == arrays["y_test"].tolist()
    assert ds.labels == [str(d) for d in range(10)]
    assert ds.input_spec.shape == (1, 28, 28) and ds.input_spec.pixel_max == 255.0


def test_fashion_mnist_has_clothing_labels(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.name == "fashion-mnist"
    assert ds.labels == FASHION
    assert ds.x_train.shape == (6, 1, 28, 28)


def test_gzipped_and_plain_files_can_be_mixed(tmp_path: Path) -> None:
    arrays = write_idx_dataset(tmp_path, gz=True)
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    assert load_dataset("mnist", tmp_path).y_test.tolist() == arrays["y_test"].tolist()


def test_missing_files_are_all_named_with_the_directory(tmp_path: Path) -> None:
    x, y = random_split(0, 3)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y)
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("mnist", tmp_path)
    assert "t10k-images-idx3-ubyte" in str(info.value)
    assert "t10k-labels-idx1-ubyte" in str(info.value)
    assert "train-images" not in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_read_idx_decodes_big_endian_values(tmp_path: Path) -> None:
    ints = np.array([[1, -2, 70000], [2**31 - 1, 0, -(2**31)]], dtype=">i4")
    floats = np.array([0.5, -1.25, 3e38], dtype=">f4")
    assert read_idx(write_idx(tmp_path / "ints", ints)).tolist() == ints.tolist()
    assert read_idx(write_idx(tmp_path / "floats.gz", floats)).tolist() == floats.tolist()


def _corrupt(tmp_path: Path, target: str, data: bytes) -> InvalidInput:
    write_idx_dataset(tmp_path)
    (tmp_path / target).write_bytes(gzip.compress(data))
    with pytest.raises(InvalidInput) as info:
        load_dataset("mnist", tmp_path)
    assert target in str(info.value)
    return info.value


def test_bad_magic_is_invalid(tmp_path: Path) -> None:
    x, _ = random_split(0, 6)
    data = bytearray(idx_bytes(x))
    data[0] = 0x01  # the first two bytes must be zero
    assert "magic" in str(_corrupt(tmp_path, "train-images-idx3-ubyte.gz", bytes(data)))


def test_unknown_type_code_is_invalid(tmp_path: Path) -> None:
    x, _ = random_split(0, 6)
    data = bytearray(idx_bytes(x))
    data[2] = 0x42
    assert "magic" in str(_corrupt(tmp_path, "train-images-idx3-ubyte.gz", bytes(data)))


def test_truncated_payload_is_invalid(tmp_path: Path) -> None:
    x, _ = random_split(0, 4)
    data = idx_bytes(x)[:-10]
    assert "truncated" in str(_corrupt(tmp_path, "t10k-images-idx3-ubyte.gz", data))


def test_truncated_header_is_invalid(tmp_path: Path) -> None:
    x, _ = random_split(0, 4)
    assert "truncated" in str(_corrupt(tmp_path, "t10k-images-idx3-ubyte.gz", idx_bytes(x)[:9]))


def test_trailing_bytes_are_invalid(tmp_path: Path) -> None:
    _, y = random_split(0, 6)
    assert "trailing" in str(_corrupt(tmp_path, "train-labels-idx1-ubyte.gz", idx_bytes(y) + b"\x00"))


def test_image_and_label_count_mismatch_names_both_files(tmp_path: Path) -> None:
    _, y = random_split(0, 5)  # 6 training images were written
    err = _corrupt(tmp_path, "train-labels-idx1-ubyte.gz", idx_bytes(y))
    assert "train-images-idx3-ubyte.gz" in str(err) and "5 labels" in str(err)


def test_labels_with_wrong_rank_are_invalid(tmp_path: Path) -> None:
    x, _ = random_split(0, 6)
    _corrupt(tmp_path, "train-labels-idx1-ubyte.gz", idx_bytes(x))


def test_label_out_of_range_is_invalid(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 10], dtype=np.uint8))
    with pytest.raises(InvalidInput) as info:
        load_dataset("mnist", tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value) and "0..10, outside 0..9" in str(info.value)


def test_corrupt_gzip_stream_is_invalid(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(InvalidInput) as info:
        load_dataset("mnist", tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
