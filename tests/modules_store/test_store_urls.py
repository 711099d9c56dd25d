"""Choosing and configuring the database from its URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules_store import SqlStore, StoreError, Unavailable, open_store
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
        with pytest.raises(Unavailable) as error:
            store.ping()
        assert error.value.code == "UNAVAILABLE" and "s3cret" not in str(error.value)
    finally:
        store.close()


def test_an_embedded_registry_is_only_made_where_asked(tmp_path: Path) -> None:
    missing = tmp_path / "registry.db"
    with pytest.raises(Unavailable) as error:
        SqlStore(f"sqlite:///{missing}", create=False)
    assert str(missing) in error.value.message and "does not exist" in error.value.message
    assert not missing.exists()
    SqlStore(f"sqlite:///{missing}").close()  # create=True (the default) makes it
    SqlStore(f"sqlite:///{missing}", create=False).close()  # and then it exists


def test_ping_notices_the_registry_file_removed_or_replaced(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    store = SqlStore(f"sqlite:///{path}")
    try:
        store.ping()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with pytest.raises(Unavailable, match="removed or replaced"):
            store.ping()
        SqlStore(f"sqlite:///{path}").close()  # another one at the same path is not the one opened
        with pytest.raises(Unavailable, match="removed or replaced"):
            store.ping()
    finally:
        store.close()
