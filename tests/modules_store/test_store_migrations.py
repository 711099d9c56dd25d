"""The Alembic migrations build exactly the schema the rows describe, idempotently."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from modules_store import SqlStore
from modules_store.migrate import alembic_config, current_revision, upgrade_schema
from modules_store.rows import Base

TABLES = {"datasets", "models", "modules", "compositions", "composition_modules", "composition_deletions", "jobs"}


def _schema_diff(store: SqlStore) -> list[object]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations must have one head, found {heads}"
    return heads[0]


def test_migrated_schema_matches_the_rows(store: SqlStore) -> None:
    assert _schema_diff(store) == []
    assert set(inspect(store.engine).get_table_names()) >= TABLES


def test_reopening_is_a_no_op(store: SqlStore, open_sql_store: Callable[..., SqlStore]) -> None:
    job = store.create_job("train")
    again = open_sql_store()
    assert again.get_job(job.id) == job
    assert current_revision(again.engine) == _head()
    upgrade_schema(again.engine)  # a third time, directly
    assert _schema_diff(again) == []


def test_downgrade_to_nothing_and_back(store: SqlStore) -> None:
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(store.engine) is None
    upgrade_schema(store.engine)
    assert _schema_diff(store) == []
    assert current_revision(store.engine) == _head()


def test_migrate_false_leaves_an_empty_database_alone(open_sql_store: Callable[..., SqlStore]) -> None:
    untouched = open_sql_store(migrate=False)
    assert TABLES.isdisjoint(inspect(untouched.engine).get_table_names())
