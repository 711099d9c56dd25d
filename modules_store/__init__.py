"""The MODA Hub registry: what exists (datasets, models, modules, compositions, jobs) and where
its files are (content-addressed artifacts). Never imports torch, FastAPI or the service.

    store = open_store("sqlite:///data/registry.db")       # or postgresql+psycopg://...
    artifacts = open_artifact_store("file:///srv/moda/artifacts")
    sha = artifacts.put_file("module.onnx")
    model = store.get_model(model_id)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modules_store.artifact_urls import open_artifact_store
from modules_store.artifacts import ArtifactStore, PartialWrite, StoredArtifact
from modules_store.entities import (
    TERMINAL_STATUSES,
    Composition,
    CompositionClass,
    Dataset,
    Deleted,
    DeletionsSince,
    Job,
    JobStatus,
    Model,
    Module,
    NewComposition,
    NewModel,
    NewModule,
    Page,
    Strategy,
)
from modules_store.errors import (
    AlreadyExists,
    CodedError,
    Conflict,
    CorruptArtifact,
    ErrorCode,
    InvalidArgument,
    NotFound,
    StorageFull,
    StoreError,
    Unavailable,
)
from modules_store.ids import composition_id, new_id
from modules_store.local_artifacts import LocalArtifactStore
from modules_store.store import MAX_OFFSET, MAX_PAGE_LIMIT, RegistryStore, all_items

if TYPE_CHECKING:
    from modules_store.engine import redacted_url
    from modules_store.sql_store import SqlStore

# What imports SQLAlchemy is imported when first used, so that code needing only the entities and
# the error codes (the serving path, through service.errors) does without it.
_LAZY = {"SqlStore": "modules_store.sql_store", "redacted_url": "modules_store.engine"}

# URL schemes (before any "+driver") of the SQL backend; SqlStore pins the driver itself.
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(database_url: str, *, create: bool = True) -> RegistryStore:
    """The registry at `database_url`, its schema migrated to the latest revision. With
    create=False an embedded (SQLite) registry that does not exist is UNAVAILABLE, not made anew.

    sqlite:///relative/path.db, sqlite:////absolute/path.db, postgresql+psycopg://user@host/db
    (postgresql:// and postgres:// mean the same). Anything else -> INVALID_ARGUMENT.
    """
    scheme = database_url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in database_url else ""
    if scheme not in _SQL_SCHEMES:
        supported = ", ".join(f"{name}://" for name in _SQL_SCHEMES)
        raise InvalidArgument(f"unsupported database URL scheme {scheme!r}; supported: {supported}")
    from modules_store.sql_store import SqlStore

    return SqlStore(database_url, create=create)


__all__ = [
    "MAX_OFFSET",
    "MAX_PAGE_LIMIT",
    "TERMINAL_STATUSES",
    "AlreadyExists",
    "ArtifactStore",
    "CodedError",
    "Composition",
    "CompositionClass",
    "Conflict",
    "CorruptArtifact",
    "Dataset",
    "Deleted",
    "DeletionsSince",
    "ErrorCode",
    "InvalidArgument",
    "Job",
    "JobStatus",
    "LocalArtifactStore",
    "Model",
    "Module",
    "NewComposition",
    "NewModel",
    "NewModule",
    "NotFound",
    "Page",
    "PartialWrite",
    "RegistryStore",
    "SqlStore",
    "StorageFull",
    "StoreError",
    "StoredArtifact",
    "Strategy",
    "Unavailable",
    "all_items",
    "composition_id",
    "new_id",
    "open_artifact_store",
    "open_store",
    "redacted_url",
]
