"""requirements.lock and requirements-dev.lock: every install is the same CPU-only set of packages.

A fresh Linux machine installs from them (the Makefile, the image), so they must pin torch's CPU build,
hold nothing of CUDA's, and pin each direct dependency of pyproject.toml at its own version.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
RUNTIME = PYPROJECT["dependencies"]
DEV = PYPROJECT["optional-dependencies"]["dev"]
LOCKS = {"requirements.lock": RUNTIME, "requirements-dev.lock": RUNTIME + DEV}
GPU_PACKAGE = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")


def pins(lock: str) -> dict[str, Version]:
    """{canonical name: pinned version} of a pip requirements file; every line must be `name==version`."""
    found: dict[str, Version] = {}
    for line in (REPO / lock).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock}: {line!r} is not pinned with =="
        found[canonicalize_name(requirement.name)] = Version(specifier.version)
    return found


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_holds_no_gpu_package(lock: str) -> None:
    gpu = sorted(name for name in pins(lock) if GPU_PACKAGE.match(name))
    assert not gpu, f"{lock} would install CUDA packages: {gpu}"


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_pins_torch_cpu_build(lock: str) -> None:
    torch = pins(lock)["torch"]
    assert torch.local == "cpu", f"{lock} pins torch {torch}, not its +cpu build"


@pytest.mark.parametrize(("lock", "direct"), LOCKS.items())
def test_lock_pins_every_direct_dependency_at_its_version(lock: str, direct: list[str]) -> None:
    locked = pins(lock)
    for line in direct:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is in pyproject.toml but not in {lock}: run `make lock`"
        # torch==2.13.0 matches the lock's 2.13.0+cpu: a local version satisfies its public pin.
        assert requirement.specifier.contains(locked[name]), (
            f"{lock} pins {name} {locked[name]}, pyproject.toml wants {requirement.specifier}: run `make lock`"
        )


def test_dev_lock_agrees_with_the_runtime_lock() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    differ = {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version}
    assert not differ, f"the two locks pin these differently (runtime, dev): {differ}"


def test_makefile_and_image_install_from_the_locks() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "DEV_LOCK := requirements-dev.lock" in makefile
    # torch's locked +cpu build from the CPU index, then the whole lock.
    assert "pip install --no-deps --extra-index-url $(TORCH_INDEX) \"$$(grep '^torch==' $(DEV_LOCK))\"" in makefile
    assert "pip install -r $(DEV_LOCK)" in makefile
    assert "TORCH_INDEX ?=" in makefile, "a CUDA index must stay selectable"
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert re.search(r"pip install .*-r requirements\.lock", dockerfile)
