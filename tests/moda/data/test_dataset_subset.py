"""ImageDataset.subset: class filtering and per-class training fractions, labels untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.moda.data import ImageDataset, load_dataset
from service.moda.data.stats import input_spec_from
from service.moda.errors import InvalidInput


def make_dataset() -> ImageDataset:
    """4 classes x 10 training samples (interleaved), 4 x 3 test samples; pixel value = sample index."""
    y_train = torch.arange(40) % 4
    y_test = torch.arange(12) % 4
    x_train = torch.arange(40, dtype=torch.float32).view(40, 1, 1, 1).expand(40, 1, 2, 2).contiguous()
    x_test = torch.arange(100, 112, dtype=torch.float32).view(12, 1, 1, 1).expand(12, 1, 2, 2).contiguous()
    return ImageDataset(
        name="toy",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        labels=["a", "b", "c", "d"],
        input_spec=input_spec_from(x_train, 255),
    )


def original_index(ds: ImageDataset) -> list[int]:
    return [int(v) for v in ds.x_train[:, 0, 0, 0]]


def test_class_filter_keeps_indices_labels_and_pairs() -> None:
    full = make_dataset()
    sub = full.subset(classes=[3, 1])

    assert sub.labels == ["a", "b", "c", "d"] and sub.num_classes == 4
    assert set(sub.y_train.tolist()) == {1, 3} and set(sub.y_test.tolist()) == {1, 3}
    assert len(sub.y_train) == 20 and len(sub.y_test) == 6
    # Every kept sample still carries its own label, in the original order.
    idx = original_index(sub)
    assert idx == sorted(idx)
    assert sub.y_train.tolist() == [full.y_train[i].item() for i in idx]
    assert [int(v) - 100 for v in sub.x_test[:, 0, 0, 0]] == [1, 3, 5, 7, 9, 11]


def test_float_fraction_thins_every_class_but_not_the_test_split() -> None:
    sub = make_dataset().subset(train_fraction=0.3, seed=1)
    assert torch.bincount(sub.y_train, minlength=4).tolist() == [3, 3, 3, 3]
    assert len(sub.y_test) == 12


def test_per_class_fractions() -> None:
    full = make_dataset()
    sub = full.subset(train_fraction={2: 0.1, 0: 0.5}, seed=0)
    assert torch.bincount(sub.y_train, minlength=4).tolist() == [5, 10, 1, 10]
    assert sub.y_train.tolist() == [full.y_train[i].item() for i in original_index(sub)]


def test_classes_and_fractions_combine() -> None:
    sub = make_dataset().subset(classes=[0, 2], train_fraction={2: 0.2})
    assert torch.bincount(sub.y_train, minlength=4).tolist() == [10, 0, 2, 0]
    assert torch.bincount(sub.y_test, minlength=4).tolist() == [3, 0, 3, 0]


def test_tiny_fraction_keeps_one_sample() -> None:
    sub = make_dataset().subset(train_fraction=0.01)
    assert torch.bincount(sub.y_train, minlength=4).tolist() == [1, 1, 1, 1]


def test_sampling_is_seeded() -> None:
    full = make_dataset()
    first = original_index(full.subset(train_fraction=0.5, seed=7))
    assert first == original_index(full.subset(train_fraction=0.5, seed=7))
    assert first != original_index(full.subset(train_fraction=0.5, seed=8))


def test_input_spec_describes_the_kept_training_samples() -> None:
    sub = make_dataset().subset(classes=[0])  # pixel values 0, 4, ..., 36
    values = np.arange(0, 40, 4, dtype=np.float64)
    assert sub.input_spec.mean == pytest.approx((values.mean(),))
    assert sub.input_spec.std == pytest.approx((values.std(),))
    assert sub.input_spec.pixel_max == 255.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"classes": [4]}, "out of range"),
        ({"classes": [-1]}, "out of range"),
        ({"classes": [1, 1]}, "duplicates"),
        ({"classes": []}, "empty"),
        ({"train_fraction": 0.0}, "(0, 1]"),
        ({"train_fraction": 1.5}, "(0, 1]"),
        ({"classes": [0], "train_fraction": {1: 0.5}}, "not kept"),
    ],
)
def test_bad_arguments_are_invalid(kwargs: dict, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        make_dataset().subset(**kwargs)
    assert fragment in str(info.value)


def test_restrict_renumbers_the_kept_classes() -> None:
    digits = load_dataset("digits")
    part = digits.restrict([7, 2, 5])
    assert part.labels == ["2", "5", "7"]
    assert set(part.y_train.tolist()) == {0, 1, 2}
    original = digits.y_test[torch.isin(digits.y_test, torch.tensor([2, 5, 7]))]
    assert part.y_test.tolist() == [{2: 0, 5: 1, 7: 2}[int(c)] for c in original]
    assert torch.equal(part.x_test, digits.x_test[torch.isin(digits.y_test, torch.tensor([2, 5, 7]))])
