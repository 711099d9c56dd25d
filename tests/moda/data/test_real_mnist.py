"""The real MNIST split shipped with the project, loaded end to end."""

from __future__ import annotations

from pathlib import Path

import torch

from service.moda.data import load_dataset


def test_real_mnist_split_loads_with_expected_sizes_and_scale(mnist_dir: Path) -> None:
    ds = load_dataset("mnist", mnist_dir)

    assert ds.x_train.shape == (8000, 1, 28, 28)
    assert ds.x_test.shape == (2000, 1, 28, 28)
    assert ds.y_train.shape == (8000,) and ds.y_test.shape == (2000,)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train.min().item() == 0.0 and ds.x_train.max().item() == 255.0
    assert torch.equal(ds.x_train, ds.x_train.round())  # raw 8-bit values, not rescaled
    assert set(ds.y_train.tolist()) == set(range(10)) == set(ds.y_test.tolist())
    assert ds.labels == [str(d) for d in range(10)]
    assert ds.input_spec.shape == (1, 28, 28) and ds.input_spec.pixel_max == 255.0
    # MNIST's well-known raw mean is about 33 (0.13 * 255); a 0..1 rescale would give ~0.13.
    assert 25.0 < ds.input_spec.mean[0] < 40.0
