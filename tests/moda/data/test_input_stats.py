"""input_spec_from: per-channel raw-unit statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.moda.data.stats import input_spec_from
from service.moda.errors import InvalidInput


def test_per_channel_population_statistics() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 3, 5, 7)).astype(np.float32)
    x[:, 1] *= 0.25  # channels must not be pooled together
    spec = input_spec_from(torch.from_numpy(x), 255)

    x64 = x.astype(np.float64)
    assert spec.mean == pytest.approx(tuple(x64.mean(axis=(0, 2, 3))), rel=1e-5)
    assert spec.std == pytest.approx(tuple(x64.std(axis=(0, 2, 3))), rel=1e-5)
    assert spec.shape == (3, 5, 7) and spec.pixel_max == 255.0


def test_constant_channel_gets_unit_std() -> None:
    x = torch.zeros(4, 2, 3, 3)
    x[:, 1] = torch.arange(4.0).view(4, 1, 1)
    spec = input_spec_from(x, 16)
    assert spec.std[0] == 1.0
    assert spec.std[1] == pytest.approx(np.std([0.0, 1.0, 2.0, 3.0]))


def test_empty_training_set_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        input_spec_from(torch.zeros(0, 1, 2, 2), 255)
