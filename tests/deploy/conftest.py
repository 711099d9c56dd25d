"""Fixtures for the deployment files: docker-compose.yml, docker/Dockerfile and its scripts.

No container engine is needed: the files are parsed and checked against the code they start.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.deploy_files import COMPOSE_FILE, DOCKERFILE, Instruction, parse_dockerfile


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse docker-compose.yml")
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())
