"""Fixtures shared by the whole test-suite.

`database_url` is an empty registry database on SQLite and on PostgreSQL (parametrised).
PostgreSQL runs when MODA_TEST_POSTGRES_URL names a server (any database on it: the tests create
and drop their own, `moda_test_<random>`, and give each test a fresh schema inside it). Unset, the
PostgreSQL cases skip, unless MODA_TEST_REQUIRE_SERVERS=1, which makes them fail; set but
unreachable, they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# One compute thread per process: the suite runs test processes, servers and workers side by side
# on few cores, and OpenMP threads spinning against each other make everything several times slower.
# Set before torch is imported anywhere; servers started by tests inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL

from tests.servers import POSTGRES_URL_ENV, scratch_database, server_url

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


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[tuple[Engine, URL]]:
    """An AUTOCOMMIT engine on a scratch database made for this session, and that database's URL."""
    raw_url = server_url(POSTGRES_URL_ENV, "PostgreSQL tests", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with scratch_database(raw_url, "moda_test") as scratch_url:
        scratch = create_engine(
            scratch_url, isolation_level="AUTOCOMMIT", connect_args={"options": "-csynchronous_commit=off"}
        )
        try:
            yield scratch, scratch_url
        finally:
            scratch.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL to an empty database (no tables yet) on the parametrised backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/registry.db"
        return
    admin, scratch_url = request.getfixturevalue("postgres_admin")
    schema = f"t_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # libpq's `options` puts every connection of the store into the test's own schema; commits
    # that do not wait for the WAL flush keep the suite fast without changing any semantics.
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    yield scratch_url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
