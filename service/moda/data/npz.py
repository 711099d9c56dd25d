"""A user's own images as one .npz archive: the escape hatch for data in no standard format.

Arrays: x_train, y_train, x_test, y_test, and optionally labels (strings, index = class). Images may be
(N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3}; labels are integer class indices.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from service.moda.data.build import build_dataset
from service.moda.data.dataset import ImageDataset
from service.moda.data.files import locate_files
from service.moda.errors import DatasetUnavailable, InvalidInput

NPZ_FILENAME = "data.npz"
_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
_CHANNELS = (1, 3)


def load_npz(data_dir: str | Path | None) -> ImageDataset:
    """Load data_dir/data.npz, or data_dir itself when it is a .npz file.

    pixel_max: 255 when any pixel exceeds 16, else 16. The only scales in use are digits-like 0..16 and
    8-bit 0..255, and an 8-bit set whose every pixel is <= 16 is implausible. Pixels must lie in 0..255.
    """
    if data_dir is not None and Path(data_dir).suffix == ".npz":
        path = Path(data_dir).expanduser()
        if not path.is_file():
            raise DatasetUnavailable(f"dataset 'npz': missing file {path}")
    else:
        (path,) = locate_files("npz", data_dir, [NPZ_FILENAME])
    arrays = _read_arrays(path)
    x_train = _to_nchw(arrays["x_train"], path, "x_train")
    x_test = _to_nchw(arrays["x_test"], path, "x_test")
    y_train, y_test = arrays["y_train"], arrays["y_test"]
    pixel_max = _pixel_max(path, x_train, x_test)
    labels = _labels(path, arrays.get("labels"), y_train, y_test)
    return build_dataset("npz", str(path), x_train, y_train, x_test, y_test, labels, pixel_max)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        # allow_pickle=False: an object array would unpickle, i.e. run code from the file.
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in _REQUIRED if key not in archive.files]
            if missing:
                raise InvalidInput(f"{path}: missing arrays {', '.join(missing)}")
            return {key: archive[key] for key in archive.files}
    except InvalidInput:
        raise  # ours, from the check above: not an unreadable archive
    except OSError as exc:
        raise DatasetUnavailable(f"cannot read {path}: {exc}") from exc
    except (ValueError, zipfile.BadZipFile, EOFError) as exc:
        # ValueError covers both a corrupt member and an object array refused by allow_pickle=False.
        raise InvalidInput(f"{path} is not a valid .npz archive: {exc}") from exc


def _to_nchw(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if x.ndim == 4:
        # Channels-last only when the last axis looks like channels and the first image axis does not;
        # (N, 3, 32, 3) therefore counts as channels-first.
        if x.shape[-1] in _CHANNELS and x.shape[1] not in _CHANNELS:
            return x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W), a view
        if x.shape[1] in _CHANNELS:
            return x
    raise InvalidInput(
        f"{path}: {key} must be (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {_CHANNELS}, got {x.shape}",
    )


def _pixel_max(path: Path, *xs: np.ndarray) -> float:
    for x in xs:
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise InvalidInput(f"{path}: images must be numeric, got {x.dtype}")
        if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 255):
            raise InvalidInput(f"{path}: pixels must be finite values in 0..255")
    return 255.0 if any(x.size and x.max() > 16 for x in xs) else 16.0


def _labels(path: Path, names: np.ndarray | None, y_train: np.ndarray, y_test: np.ndarray) -> list[str]:
    for y in (y_train, y_test):
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise InvalidInput(f"{path}: labels must be 1-D integers, got {y.dtype} {y.shape}")
    num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    if names is None:
        return [str(k) for k in range(num_classes)]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise InvalidInput(f"{path}: labels must be a 1-D array of strings")
    if len(names) < num_classes:
        raise InvalidInput(
            f"{path}: {len(names)} label names but class indices go up to {num_classes - 1}",
        )
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names.tolist()]
