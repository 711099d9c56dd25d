"""Datasets named by remote callers: read only from below one root directory, loaded once per process.

A job's parameters come from HTTP clients; letting them name any path would let them probe the
server's file system. Registry rows name a dataset by a key: its kind, plus its directory
(relative to the root) when one was given, e.g. "mnist" or "npz:faces/v2".

This is where the service meets the ML core's loaders, so their refusals become coded errors here.
"""

from __future__ import annotations

import posixpath
from functools import lru_cache
from pathlib import Path, PurePosixPath

from service.errors import ErrorCode, HubError, coded
from service.moda.data.dataset import ImageDataset
from service.moda.data.registry import load_dataset
from service.moda.errors import DatasetUnavailable, InvalidInput

BUNDLED = {"digits"}  # ships with scikit-learn: no directory


def resolve_data_dir(root: Path, dataset: str, data_dir: str | None) -> Path | None:
    """The directory to read `dataset` from: `root/data_dir`, default `root/dataset`.

    Containment is checked on the spelling, not on the resolved path: a caller's `data_dir` may not
    climb out of the root ("..", absolute paths), but a symlink the operator placed inside it (say
    root/mnist -> /srv/shared/mnist) is followed, as the operator meant it to be.
    """
    if dataset in BUNDLED:
        return None
    relative = PurePosixPath(posixpath.normpath(data_dir or dataset))
    if relative.is_absolute() or relative.parts[:1] == ("..",):
        raise HubError(
            ErrorCode.INVALID_ARGUMENT,
            f"data_dir must be a directory inside the datasets directory {root.resolve()}, given relative to it; "
            f"got {data_dir!r}",
        )
    return root.resolve() / relative


def dataset_key(dataset: str, data_dir: str | None) -> str:
    return dataset if not data_dir else f"{dataset}:{data_dir}"


def split_dataset_key(key: str) -> tuple[str, str | None]:
    dataset, _, data_dir = key.partition(":")
    return dataset, data_dir or None


def canonical_dataset_key(root: Path, dataset: str, data_dir: str | None) -> str:
    """The key of the data `dataset` and `data_dir` name, the same however the directory is spelled.

    ("mnist", None), ("mnist", "mnist") and ("mnist", "./mnist/") all read root/mnist: "mnist".
    A bundled dataset reads no directory: its name alone.
    """
    path = resolve_data_dir(root, dataset, data_dir)
    if path is None:
        return dataset
    relative = path.relative_to(root.resolve()).as_posix()
    return dataset_key(dataset, None if relative == dataset else relative)


@lru_cache(maxsize=4)
def _load(dataset: str, path: Path | None) -> ImageDataset:
    return load_dataset(dataset, path)


def open_dataset(root: Path, dataset: str, data_dir: str | None) -> ImageDataset:
    """The dataset, loaded once per process (callers must not modify its tensors).

    Refusals name files below `root` as MODA_DATASETS_DIR/...: the caller learns which files are
    missing without learning where the server keeps them."""
    try:
        return _load(dataset, resolve_data_dir(root, dataset, data_dir))
    except (HubError, InvalidInput, DatasetUnavailable) as error:
        refusal = error if isinstance(error, HubError) else coded(error)
        message = refusal.message
        for spelling in {str(root.resolve()), str(root)}:
            message = message.replace(spelling, "MODA_DATASETS_DIR")
        raise HubError(refusal.code, message) from error
