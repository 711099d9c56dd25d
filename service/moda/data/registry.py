"""Dataset names -> loaders: the one entry point the trainer, jobs and benchmarks call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service.moda.data.cifar import load_cifar10, load_cifar100
from service.moda.data.dataset import ImageDataset
from service.moda.data.digits import load_digits
from service.moda.data.mnist import load_fashion_mnist, load_mnist
from service.moda.data.npz import load_npz
from service.moda.data.svhn import load_svhn
from service.moda.errors import InvalidInput

_LOADERS: dict[str, Callable[[str | Path | None], ImageDataset]] = {
    "digits": lambda _data_dir: load_digits(),  # bundled with scikit-learn; a data_dir is ignored
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "svhn": load_svhn,
    "npz": load_npz,
}

DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(name: str, data_dir: str | Path | None = None) -> ImageDataset:
    """Load dataset `name` (one of DATASET_NAMES) from `data_dir`.

    Raises InvalidInput for an unknown name or a malformed file, DatasetUnavailable when
    files are missing (the message names each one and the directories searched).
    """
    loader = _LOADERS.get(name)
    if loader is None:
        raise InvalidInput(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    return loader(data_dir)
