"""What the registry package may depend on, and the error vocabulary it shares with the service."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from modules_store import (
    AlreadyExists,
    Conflict,
    CorruptArtifact,
    InvalidArgument,
    NotFound,
    StorageFull,
    StoreError,
    Unavailable,
    open_store,
)
from modules_store.errors import CodedError, ErrorCode

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {"torch", "fastapi", "service", "onnxruntime", "starlette"}


def test_no_forbidden_imports_in_source() -> None:
    offenders = []
    for path in sorted((REPO / "modules_store").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(REPO)}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_the_registry_loads_nothing_forbidden() -> None:
    probe = (
        f"import sys, modules_store\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize(
    ("error_type", "code"),
    [
        (NotFound, "NOT_FOUND"),
        (AlreadyExists, "ALREADY_EXISTS"),
        (Conflict, "CONFLICT"),
        (InvalidArgument, "INVALID_ARGUMENT"),
        (CorruptArtifact, "CORRUPT_ARTIFACT"),
        (Unavailable, "UNAVAILABLE"),
        (StorageFull, "INSUFFICIENT_STORAGE"),
    ],
)
def test_each_error_carries_its_code(error_type: type[StoreError], code: str) -> None:
    error = error_type("what happened")
    assert isinstance(error, StoreError)
    assert (error.code, error.message) == (code, "what happened")
    assert str(error) == f"{code}: what happened"


def test_the_store_and_the_service_share_one_error_root_and_vocabulary() -> None:
    errors = pytest.importorskip("service.errors")
    assert errors.ErrorCode is ErrorCode
    assert issubclass(StoreError, CodedError) and issubclass(errors.HubError, CodedError)


def test_offsets_beyond_sql_bigint_are_invalid_arguments(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'big.db'}")
    for listing in (store.list_jobs, store.list_models, store.list_compositions, store.list_datasets):
        with pytest.raises(StoreError) as error:
            listing(offset=2**63)
        assert error.value.code == "INVALID_ARGUMENT"
        assert listing(offset=2**63 - 1).items == []


def test_a_registry_that_cannot_be_read_is_unavailable_not_a_driver_error(tmp_path: Path) -> None:
    import sqlite3

    store = open_store(f"sqlite:///{tmp_path}/registry.db")
    try:
        with sqlite3.connect(tmp_path / "registry.db") as raw:
            raw.execute("DROP TABLE jobs")  # a schema this code does not know
        with pytest.raises(Unavailable, match="no such table: jobs"):
            store.list_jobs()
    finally:
        store.close()
