"""Dataset keys: the same data named in different spellings has one key."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import HubError
from service.jobs.datasets import canonical_dataset_key, resolve_data_dir


def test_one_key_however_the_directory_is_spelled(tmp_path: Path) -> None:
    for data_dir in (None, "mnist", "./mnist/", "other/../mnist"):
        assert canonical_dataset_key(tmp_path, "mnist", data_dir) == "mnist"
    for data_dir in ("faces/v2", "faces//v2/", "./faces/v2"):
        assert canonical_dataset_key(tmp_path, "npz", data_dir) == "npz:faces/v2"
    assert canonical_dataset_key(tmp_path, "digits", "anything") == "digits"  # bundled: reads no directory


@pytest.mark.parametrize("data_dir", ["../elsewhere", "a/../../elsewhere", "..", "/etc", "//etc"])
def test_a_directory_outside_the_root_has_no_key(tmp_path: Path, data_dir: str) -> None:
    with pytest.raises(HubError, match="inside the datasets directory"):
        canonical_dataset_key(tmp_path / "root", "npz", data_dir)


def test_a_symlink_the_operator_placed_in_the_root_is_followed(tmp_path: Path) -> None:
    # "put the IDX files in $MODA_DATASETS_DIR/mnist/" by linking a shared copy there
    shared, root = tmp_path / "shared" / "mnist", tmp_path / "root"
    shared.mkdir(parents=True)
    root.mkdir()
    (root / "mnist").symlink_to(shared, target_is_directory=True)
    assert resolve_data_dir(root, "mnist", None) == root.resolve() / "mnist"
    assert resolve_data_dir(root, "mnist", None).resolve() == shared.resolve()
    assert canonical_dataset_key(root, "mnist", "./mnist/") == "mnist"
    with pytest.raises(HubError):  # the link does not let a caller climb out through it
        resolve_data_dir(root, "mnist", "mnist/../../shared")
