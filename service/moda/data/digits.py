"""scikit-learn's bundled 8x8 digits: no download, so it is the default for demos and fast tests."""

from __future__ import annotations

import numpy as np

from service.moda.data.build import build_dataset
from service.moda.data.dataset import ImageDataset

DIGITS_LABELS: tuple[str, ...] = tuple(str(d) for d in range(10))
DIGITS_TEST_FRACTION = 0.2
# Fixed so that every process (trainer, evaluator, benchmark) sees the same train/test split.
DIGITS_SPLIT_SEED = 0


def load_digits() -> ImageDataset:
    """1,797 images, values 0..16, split 80/20 stratified by class: 1,437 train / 360 test."""
    # sklearn is imported here: it is slow to import and only this loader needs it.
    from sklearn.datasets import load_digits as sklearn_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_load_digits()
    images = bunch.images[:, None]  # (1797, 8, 8) -> (1797, 1, 8, 8), float64 values 0..16
    target = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, target, test_size=DIGITS_TEST_FRACTION, stratify=target, random_state=DIGITS_SPLIT_SEED
    )
    return build_dataset("digits", "sklearn digits", x_train, y_train, x_test, y_test, DIGITS_LABELS, pixel_max=16)
