"""Datasets of the ML core: every loader returns an ImageDataset of raw-pixel float32 tensors.

    load_dataset(name, data_dir)   digits | mnist | fashion-mnist | cifar10 | cifar100 | svhn | npz
    ImageDataset.subset(...)       keep some classes and/or a fraction of their training samples

Pixels stay on the dataset's own scale (digits 0..16, 8-bit images 0..255); input_spec carries the
per-channel statistics the network normalises with (see service/moda/spec.py). Errors are those of
service/moda/errors.py: DatasetUnavailable for missing files, InvalidInput for unknown names and
malformed files.
"""

from service.moda.data.dataset import ImageDataset
from service.moda.data.registry import DATASET_NAMES, load_dataset

__all__ = ["DATASET_NAMES", "ImageDataset", "load_dataset"]
