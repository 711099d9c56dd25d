"""Alembic environment. Run through modules_store.migrate, which passes the connection in.

For writing a new revision with the alembic CLI, use modules_store/alembic.ini:
    alembic -c modules_store/alembic.ini -x url=sqlite:///data/dev.db revision --autogenerate -m "..."
then read the generated file: autogenerate misses renames and some type changes.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from modules_store.rows import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: later revisions rewrite tables in batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _url_from_command_line() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("give the database with -x url=DATABASE_URL")
    return url


def run_offline() -> None:
    context.configure(url=_url_from_command_line(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # Called from modules_store.migrate inside its transaction: begin_transaction() joins it.
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # Imported here: offline mode needs no engine (and no driver).
    from modules_store.engine import create_registry_engine

    engine = create_registry_engine(_url_from_command_line())
    try:
        with engine.begin() as own_connection:
            _configure(own_connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
