"""Fixtures shared by the whole test-suite."""

from __future__ import annotations

import os
from pathlib import Path

# One compute thread per process: the suite runs test processes, servers and workers side by side
# on few cores, and OpenMP threads spinning against each other make everything several times slower.
# Set before torch is imported anywhere; servers started by tests inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

MNIST_DIR_ENV = "MODA_TEST_MNIST_DIR"
# tests/conftest.py -> parents[1] is the repository root; the shared data sits beside it.
DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST split (8,000 train / 2,000 test, IDX); skips when it is not on this machine."""
    override = os.environ.get(MNIST_DIR_ENV)
    path = (Path(override) if override else DEFAULT_MNIST_DIR).resolve()
    if not path.is_dir():
        pytest.skip(f"real MNIST split not found at {path}: set {MNIST_DIR_ENV} to its directory")
    return path
