"""load_dataset: names, and the errors every loader shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.moda.data import DATASET_NAMES, load_dataset
from service.moda.errors import DatasetUnavailable, InvalidInput

EXPECTED_FILES = {
    "mnist": ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    "fashion-mnist": ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte"],
    "cifar10": ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"],
    "cifar100": ["train", "test", "meta"],
    "svhn": ["train_32x32.mat", "test_32x32.mat"],
    "npz": ["data.npz"],
}


def test_dataset_names() -> None:
    assert DATASET_NAMES == ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "npz")


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        load_dataset("imagenet")
    assert "imagenet" in str(info.value) and "fashion-mnist" in str(info.value)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_no_data_dir_names_the_needed_files(name: str) -> None:
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(name)
    for filename in EXPECTED_FILES[name]:
        assert filename in str(info.value)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_nonexistent_directory_is_unavailable(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(name, missing)
    assert str(missing) in str(info.value)
    for filename in EXPECTED_FILES[name]:
        assert filename in str(info.value)


def test_empty_directory_names_every_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", str(tmp_path))  # a str path works too
    message = str(info.value)
    assert all(f"data_batch_{i}" in message for i in range(1, 6))
    assert "test_batch" in message and "batches.meta" in message
    assert "not an existing directory" not in message
