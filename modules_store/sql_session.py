"""Sessions for the SQL store: one transaction per store call, errors translated at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Select, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from modules_store.engine import immediate
from modules_store.entities import Page
from modules_store.errors import (
    DISK_FULL_ERRNOS,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    StorageFull,
    StoreError,
    Unavailable,
)
from modules_store.store import MAX_OFFSET, MAX_PAGE_LIMIT

_PG_FOREIGN_KEY_VIOLATION = "23503"
_PG_LOCK_SPACE = 0x6D6F_6461  # "moda": the first half of the registry's two-part advisory lock keys


class SqlSessions:
    """Hands out sessions that commit when the block ends and roll back when it raises."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # expire_on_commit=False: rows stay readable after commit, so entities can be built late.
        self._readers = sessionmaker(engine, expire_on_commit=False)
        self._writers = sessionmaker(immediate(engine), expire_on_commit=False)

    @contextmanager
    def begin(self, *, write: bool) -> Iterator[Session]:
        """A session in a transaction. `write=True` for any block that may write (see engine.immediate)."""
        session = (self._writers if write else self._readers)()
        try:
            yield session
            session.commit()
        except IntegrityError as error:
            session.rollback()
            raise translate_integrity_error(error) from error
        except OperationalError as error:
            session.rollback()
            if _disk_full(error):
                raise StorageFull("the registry's disk is full: the change was not written") from error
            # The database is away, locked past its timeout, or not the schema this code knows.
            raise Unavailable(f"the registry could not be read or written: {error.orig}") from error
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _disk_full(error: OperationalError) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (SQLSTATE 53100), or the OS saying so."""
    cause = error.orig
    return (
        "database or disk is full" in str(cause)
        or getattr(cause, "sqlstate", None) == "53100"
        or getattr(cause, "errno", None) in DISK_FULL_ERRNOS
    )


def serialise_on(session: Session, key: str) -> None:
    """Make transactions that pass the same `key` run one after another, until this one ends.

    PostgreSQL: a transaction-scoped advisory lock on the key's hash (collisions only over-serialise).
    SQLite: nothing to do, write transactions hold the database lock from their start.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
            {"space": _PG_LOCK_SPACE, "key": key},
        )


def translate_integrity_error(error: IntegrityError) -> StoreError:
    """A referenced row that is missing is NOT_FOUND; any other integrity failure is a duplicate."""
    cause = error.orig
    postgres_fk = getattr(cause, "sqlstate", None) == _PG_FOREIGN_KEY_VIOLATION
    if postgres_fk or "FOREIGN KEY constraint failed" in str(cause):
        return NotFound(f"a referenced row does not exist ({_describe(cause)})")
    return AlreadyExists(f"a row with the same unique key exists ({_describe(cause)})")


def _describe(cause: Any) -> str:
    diagnostic = getattr(cause, "diag", None)  # psycopg: the detail names the key and its value
    if diagnostic is not None and diagnostic.message_primary:
        detail = diagnostic.message_detail
        return f"{diagnostic.message_primary}; {detail}" if detail else diagnostic.message_primary
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def check_page(offset: int, limit: int) -> None:
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}")


def fetch_page(session: Session, query: Select[Any], *, offset: int, limit: int) -> Page[Any]:
    """The listing page of the ordered `query` from `offset` (at most `limit` rows, as entities),
    with how many rows the query has in all.

    Typed Any because Select is invariant in its row type (a Select[ModelRow] is no
    Select[EntityRow[Model]]): the entity type is the one its caller declares it returns."""
    check_page(offset, limit)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.offset(offset).limit(limit))
    return Page(items=[row.to_entity() for row in rows], total=int(total or 0), offset=offset, limit=limit)
