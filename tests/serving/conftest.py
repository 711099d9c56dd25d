"""Fixtures of the serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.helpers import ArtifactDir


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactDir:
    return ArtifactDir(tmp_path)
