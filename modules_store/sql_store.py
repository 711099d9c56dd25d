"""`SqlStore`: the registry over SQLAlchemy, on SQLite (embedded) or PostgreSQL (deployed)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from modules_store.engine import create_registry_engine, sqlite_file
from modules_store.errors import Unavailable
from modules_store.migrate import upgrade_schema
from modules_store.sql_catalog import SqlCatalog
from modules_store.sql_deletion import SqlDeletion
from modules_store.sql_jobs import SqlJobs
from modules_store.sql_session import SqlSessions
from modules_store.store import RegistryStore


class SqlStore(SqlCatalog, SqlDeletion, SqlJobs, RegistryStore):
    """The registry in a SQL database: `sqlite:///PATH` or `postgresql+psycopg://...`.

    Opening it upgrades the schema to the latest migration (see modules_store.migrate), which is
    idempotent and safe when several processes open the same database at once; pass
    migrate=False to skip that (e.g. when a deploy step ran `python -m modules_store.migrate`).
    One instance is thread-safe and keeps a small connection pool: share it within a process.
    """

    def __init__(self, url: str, *, migrate: bool = True, create: bool = True) -> None:
        database = sqlite_file(url)
        if database is not None and not create and not database.exists():
            raise Unavailable(
                f"the registry {database} does not exist, and this process may not create it (artifacts "
                "are stored already, which a new registry would orphan): restore it, point "
                "MODA_DATABASE_URL at it, or move the artifacts away to start afresh"
            )
        engine = create_registry_engine(url)
        self._db = SqlSessions(engine)
        self.url = engine.url.render_as_string(hide_password=True)
        if migrate:
            try:
                upgrade_schema(engine)
            except BaseException:
                engine.dispose()
                raise
        # An embedded registry is a file: the one opened here must stay the one in use (see ping).
        self._file = database
        self._identity = _identity(database) if database is not None else None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for tooling and tests; the registry's own calls go through methods."""
        return self._db.engine

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def ping(self) -> None:
        if self._file is not None and _identity(self._file) != self._identity:
            raise Unavailable(
                f"the registry file {self._file} was removed or replaced while this process ran: "
                "restore it and restart the service"
            )
        try:
            with self._db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            raise Unavailable(f"database {self.url} is unreachable: {error}") from error

    def close(self) -> None:
        self._db.engine.dispose()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
