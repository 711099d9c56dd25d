"""The servers some tests need (PostgreSQL, Redis): how they are named, skipped or required, and
scratch PostgreSQL databases made and dropped around a test session or module.

A variable unset skips the test, unless MODA_TEST_REQUIRE_SERVERS=1 (CI), which makes it fail;
a server named but unreachable fails the test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from modules_store.engine import normalise_database_url

POSTGRES_URL_ENV = "MODA_TEST_POSTGRES_URL"
REDIS_URL_ENV = "MODA_TEST_REDIS_URL"
REQUIRE_SERVERS_ENV = "MODA_TEST_REQUIRE_SERVERS"


def server_url(env: str, needed_by: str, example: str) -> str:
    """The URL in `env`; skips (or, when servers are required, fails) the test without it."""
    url = os.environ.get(env)
    if url:
        return url
    if os.environ.get(REQUIRE_SERVERS_ENV) == "1":
        pytest.fail(f"{REQUIRE_SERVERS_ENV}=1 but {env} is not set", pytrace=False)
    pytest.skip(f"{needed_by} need {env}, e.g. {env}={example}")


@contextmanager
def scratch_database(raw_server_url: str, prefix: str) -> Iterator[URL]:
    """A new, uniquely named database on the server, dropped (connections and all) afterwards."""
    server = normalise_database_url(raw_server_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as error:
        admin.dispose()
        pytest.fail(f"{POSTGRES_URL_ENV} is set but PostgreSQL is unreachable: {error}", pytrace=False)
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
