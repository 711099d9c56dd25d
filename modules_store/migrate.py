"""Bring a database to the schema this code expects (Alembic, driven from code, no alembic.ini).

    upgrade_schema(engine)                 what SqlStore(url) does on start-up
    python -m modules_store.migrate URL    the same from a shell, e.g. before a deploy

Safe to run again (at head it is a no-op) and from several processes at once: PostgreSQL holds an
advisory lock for the upgrade transaction, SQLite's upgrade transaction takes the write lock first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text

from modules_store.engine import create_registry_engine, immediate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant naming "the registry's migration lock" among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK = 0x6D6F_6461_6D69_6772  # "modamigr"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the registry's migrations, bound to `connection` when given."""
    config = Config()
    # ConfigParser interpolates '%': escape it in case the install path contains one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine) -> None:
    """Upgrade the database behind `engine` to the latest revision, in one transaction."""
    with immediate(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            # Released at commit; a second process waits here, then finds the schema at head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m modules_store.migrate DATABASE_URL", file=sys.stderr)
        return 2
    engine = create_registry_engine(args[0])
    try:
        upgrade_schema(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
