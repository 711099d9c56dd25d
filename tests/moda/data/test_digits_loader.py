"""digits: scikit-learn's bundled 8x8 images, split deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_load_digits

from service.moda.data import ImageDataset, load_dataset


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_dataset("digits")


def test_sizes_shapes_and_dtypes(digits: ImageDataset) -> None:
    assert digits.name == "digits"
    assert digits.x_train.shape == (1437, 1, 8, 8)
    assert digits.x_test.shape == (360, 1, 8, 8)
    assert digits.y_train.shape == (1437,) and digits.y_test.shape == (360,)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert digits.labels == [str(d) for d in range(10)]
    assert digits.num_classes == 10


def test_raw_scale_zero_to_sixteen(digits: ImageDataset) -> None:
    assert digits.x_train.min().item() == 0.0 and digits.x_train.max().item() == 16.0
    assert torch.equal(digits.x_train, digits.x_train.round())
    assert digits.input_spec.pixel_max == 16.0
    assert digits.input_spec.shape == (1, 8, 8)


def test_split_is_a_partition_of_the_bundled_images(digits: ImageDataset) -> None:
    bunch = sklearn_load_digits()
    original = np.column_stack([bunch.images.reshape(len(bunch.images), -1), bunch.target])
    ours = np.column_stack(
        [
            torch.cat([digits.x_train, digits.x_test]).reshape(-1, 64).numpy(),
            torch.cat([digits.y_train, digits.y_test]).numpy(),
        ]
    )
    # Sorting rows makes the comparison order-free: same images with the same labels, each once.
    assert np.array_equal(np.unique(original, axis=0), np.unique(ours, axis=0))
    assert len(ours) == 1797


def test_split_is_deterministic_and_stratified(digits: ImageDataset) -> None:
    again = load_dataset("digits")
    assert torch.equal(digits.x_train, again.x_train) and torch.equal(digits.y_test, again.y_test)
    train_counts = torch.bincount(digits.y_train, minlength=10)
    test_counts = torch.bincount(digits.y_test, minlength=10)
    assert (train_counts > 0).all() and (test_counts > 0).all()
    # Stratified: every class contributes about 20% of its images to the test split (~36 each).
    assert test_counts.min().item() >= 34 and test_counts.max().item() <= 38


def test_input_spec_matches_training_statistics(digits: ImageDataset) -> None:
    x = digits.x_train.numpy().astype(np.float64)
    assert digits.input_spec.mean == pytest.approx((x.mean(),), rel=1e-5)
    assert digits.input_spec.std == pytest.approx((x.std(),), rel=1e-5)


def test_data_dir_is_ignored(tmp_path: Path) -> None:
    ds = load_dataset("digits", tmp_path / "does-not-exist")
    assert ds.x_train.shape == (1437, 1, 8, 8)
