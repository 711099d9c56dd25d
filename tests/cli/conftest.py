"""The CLI suite: the real `moda` command against real servers (subprocesses, SQLite, local workers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_ambient_connection(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests say which service, key and terminal width they use: none leaks in from the shell that runs
    pytest."""
    monkeypatch.delenv("MODA_URL", raising=False)
    monkeypatch.delenv("MODA_API_KEY", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    yield
