"""Fixtures for the deployment files: docker-compose.yml, docker/Dockerfile and its scripts.

No container engine is needed: the files are parsed and checked against the code they start.
"""

from __future__ import annotations

from typing import Any

import pytest
from dotenv import dotenv_values

from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    FILLED_ENV,
    Instruction,
    interpolate,
    parse_dockerfile,
)


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return {key: value or "" for key, value in dotenv_values(ENV_EXAMPLE).items()}


@pytest.fixture(scope="session")
def compose(env_example: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yml as Compose sees it with .env made from .env.example and filled in."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse docker-compose.yml")
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env_example | FILLED_ENV))


@pytest.fixture(scope="session")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())
