"""Database URLs and engines: which backends exist and how each is tuned for several processes."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from modules_store.errors import InvalidArgument

SUPPORTED_DATABASE_URLS = "sqlite:///PATH, postgresql+psycopg://USER@HOST/DB (postgresql:// is accepted)"
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}

# SQLite waits this long for another writer instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option read by the SQLite "begin" hook: take the write lock when the transaction
# starts, not at its first write (see _sqlite_begin).
SQLITE_IMMEDIATE = "modules_store_sqlite_immediate"


def normalise_database_url(url: str) -> URL:
    """Parse `url` and pin the driver; INVALID_ARGUMENT for what the registry cannot use."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise InvalidArgument(f"not a database URL; supported: {SUPPORTED_DATABASE_URLS}") from error
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in _SQLITE_DRIVERS:
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            # Every pooled connection would see its own empty database.
            raise InvalidArgument("in-memory SQLite is not supported: give a file, sqlite:///PATH")
        return parsed.set(drivername="sqlite+pysqlite")
    raise InvalidArgument(
        f"unsupported database URL scheme {parsed.drivername!r}; supported: {SUPPORTED_DATABASE_URLS}"
    )


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for other databases."""
    parsed = normalise_database_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database is None or parsed.query.get("uri"):
        return None
    return Path(parsed.database).expanduser().absolute()


def redacted_url(url: str) -> str:
    """`url` with its password masked: the form a database URL may take in a log line."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<not a database URL>"


def create_registry_engine(url: str) -> Engine:
    """An engine for `url`, configured for the registry's concurrency (see the helpers below)."""
    parsed = normalise_database_url(url)
    engine = _sqlite_engine(parsed) if parsed.get_backend_name() == "sqlite" else _postgres_engine(parsed)
    _discard_connections_after_fork(engine)
    return engine


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        # Connections die when the server restarts or a proxy times them out: test before use.
        pool_pre_ping=True,
        pool_recycle=1800,
        # Several processes (API workers, job workers) each hold a pool: keep each one small.
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 10, "application_name": "moda-hub"},
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    assert database is not None  # normalise_database_url refuses in-memory URLs
    if not url.query.get("uri"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The sqlite3 module's own transaction handling skips BEGIN before SELECTs and DDL; SQLAlchemy
    # emits BEGIN itself instead (_sqlite_begin), which makes migrations transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer and the writer never blocks readers.
        _enable_wal(cursor)
        # In WAL mode NORMAL cannot corrupt the database; it may lose the last commits on power loss.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL is a property of the file, so this only changes anything for a new database; but then
    # several processes opening it at once make the switch fail with "database is locked" at once,
    # without waiting for busy_timeout. Wait here instead.
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # (busy_timeout does not apply) when another connection committed in between. Write
    # transactions therefore take the lock up front; read-only ones stay deferred and never block.
    if connection.get_execution_options().get(SQLITE_IMMEDIATE, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def immediate(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take SQLite's write lock when they begin."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def _discard_connections_after_fork(engine: Engine) -> None:
    # SQLAlchemy's recipe for os.fork(): a connection inherited from the parent process must never
    # be used by the child (two processes on one socket or one SQLite handle corrupt each other).
    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        if record.info.get("pid") != os.getpid():
            # SQLAlchemy's documented fork recipe, which its own type hints do not allow.
            record.dbapi_connection = proxy.dbapi_connection = None  # type: ignore[misc]  # see above
            raise exc.DisconnectionError("connection was opened by another process; reconnecting")
