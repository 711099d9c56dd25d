"""Find a dataset's files in the directory the user named, or say exactly what is missing where."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from service.moda.errors import DatasetUnavailable

# One required file: a name, or several acceptable names with the preferred one first
# (e.g. MNIST's "train-images-idx3-ubyte.gz" or its uncompressed twin).
FileSpec = str | tuple[str, ...]


def locate_files(
    dataset: str,
    data_dir: str | Path | None,
    files: Sequence[FileSpec],
    subdirs: Sequence[str] = (),
) -> list[Path]:
    """Paths of `files`, in order, all from one directory: data_dir itself or one of data_dir/subdir.

    The official archives unpack into a subdirectory (cifar-10-batches-py, ...), and users point at
    either level, so both are searched. Raises DATASET_UNAVAILABLE naming every missing file and every
    directory searched.
    """
    wanted = [(spec,) if isinstance(spec, str) else spec for spec in files]
    if data_dir is None:
        raise DatasetUnavailable(
            f"dataset {dataset!r} needs a data directory holding {_describe(wanted)}; none was given",
        )
    root = Path(data_dir).expanduser()
    candidates = [root, *(root / sub for sub in subdirs)]
    missing_by_dir: list[tuple[Path, list[tuple[str, ...]]]] = []
    for directory in candidates:
        found = [_first_existing(directory, names) for names in wanted]
        missing = [names for names, path in zip(wanted, found, strict=True) if path is None]
        if not missing:
            return [path for path in found if path is not None]
        missing_by_dir.append((directory, missing))
    # Report the directory that came closest: a half-copied subdirectory is the likely intent.
    best_dir, best_missing = min(missing_by_dir, key=lambda item: len(item[1]))
    searched = ", ".join(str(d) for d in candidates)
    reason = "" if root.is_dir() else f" ({root} is not an existing directory)"
    raise DatasetUnavailable(
        f"dataset {dataset!r}: missing {_describe(best_missing)} in {best_dir}{reason}; searched {searched}",
    )


def _first_existing(directory: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        path = directory / name
        if path.is_file():
            return path
    return None


def _describe(wanted: Sequence[tuple[str, ...]]) -> str:
    return ", ".join(" or ".join(names) for names in wanted)
