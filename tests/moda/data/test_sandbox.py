"""Dataset keys: the same data named in different spellings has one key."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import HubError
from service.moda.data.sandbox import canonical_dataset_key


def test_one_key_however_the_directory_is_spelled(tmp_path: Path) -> None:
    for data_dir in (None, "mnist", "./mnist/", "other/../mnist"):
        assert canonical_dataset_key(tmp_path, "mnist", data_dir) == "mnist"
    for data_dir in ("faces/v2", "faces//v2/", "./faces/v2"):
        assert canonical_dataset_key(tmp_path, "npz", data_dir) == "npz:faces/v2"
    assert canonical_dataset_key(tmp_path, "digits", "anything") == "digits"  # bundled: reads no directory


def test_a_directory_outside_the_root_has_no_key(tmp_path: Path) -> None:
    with pytest.raises(HubError):
        canonical_dataset_key(tmp_path / "root", "npz", "../elsewhere")
