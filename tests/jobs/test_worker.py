"""The local worker's start-up: what it logs about the registry it polls."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from service.config import Settings
from service.jobs.worker import poll_loop
from tests.servers import POSTGRES_URL_ENV, scratch_database, server_url

PASSWORD = "s3cret-pw-9d2"


@pytest.mark.postgres
def test_the_database_password_never_reaches_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    raw = server_url(POSTGRES_URL_ENV, "the worker log test", "postgresql+psycopg://postgres@127.0.0.1/test")
    with scratch_database(raw, "worker_log") as url:
        # The test server trusts local connections, so any password connects; the worker must not log it.
        with_password = url.set(password=PASSWORD).render_as_string(hide_password=False)
        settings = Settings(home=tmp_path, database_url=with_password)
        stop = threading.Event()
        stop.set()  # log the start-up line, then return at once
        with caplog.at_level(logging.INFO, logger="service.jobs.worker"):
            poll_loop(settings, stop)
    assert "polling postgresql+psycopg://" in caplog.text
    assert PASSWORD not in caplog.text and "***" in caplog.text
