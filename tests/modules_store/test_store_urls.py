"""Choosing and configuring the database from its URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules_store import SqlStore, StoreError, open_store
from modules_store.engine import normalise_database_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@db.example/moda",
        "postgres://u@db.example/moda",
        "postgresql+psycopg://u@db.example/moda",
    ],
)
def test_postgres_urls_use_psycopg(url: str) -> None:
    parsed = normalise_database_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.database) == ("db.example", "moda")


@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        ("mysql://u@host/db", "mysql"),
        ("postgresql+psycopg2://u@host/db", "psycopg2"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("not a url", "supported"),
        ("registry.db", ""),
    ],
)
def test_unusable_urls_are_invalid_arguments(url: str, mentions: str) -> None:
    with pytest.raises(StoreError) as error:
        open_store(url)
    assert error.value.code == "INVALID_ARGUMENT"
    assert mentions in error.value.message


def test_sqlite_file_is_created_with_its_directory_and_tuned(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "registry.db"
    store = open_store(f"sqlite:///{path}")
    try:
        assert isinstance(store, SqlStore)
        assert path.is_file()
        with store.engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30_000
        store.ping()
    finally:
        store.close()


def test_ping_reports_an_unreachable_database_without_its_password() -> None:
    store = SqlStore("postgresql://moda:s3cret@127.0.0.1:1/none", migrate=False)
    try:
        assert "s3cret" not in repr(store)
        with pytest.raises(ConnectionError) as error:
            store.ping()
        assert "s3cret" not in str(error.value)
    finally:
        store.close()
