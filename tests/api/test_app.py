"""What only a route that crashes can show, so the app runs in-process with one added: an
unexpected error is a coded 500 that leaks nothing, is counted in /metrics, and is logged with
its traceback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from service.api.app import create_app
from service.config import Settings
from tests.api.helpers import assert_error


def crashing_app(home: Path) -> FastAPI:
    app = create_app(Settings(home=home, workers=0))

    @app.get("/v1/boom/{thing}")
    def boom(thing: str) -> None:
        raise RuntimeError(f"secret detail about {thing}")

    return app


async def call(app: FastAPI) -> tuple[httpx.Response, str]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        response = await client.get("/v1/boom/x")
        metrics = (await client.get("/metrics")).text
    return response, metrics


def test_a_crash_is_a_coded_500_counted_and_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="service.api.errors"):
        response, metrics = asyncio.run(call(crashing_app(tmp_path)))

    assert_error(response, 500, "INTERNAL", "RuntimeError")
    assert "secret detail" not in response.text  # the message stays in the log

    counted = 'moda_http_requests_total{method="GET",route="/v1/boom/{thing}",status="500"} 1.0'
    assert counted in metrics

    (record,) = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert record.getMessage() == "GET /v1/boom/x crashed"
    assert record.exc_info is not None, "the crash was logged without its traceback"
    assert str(record.exc_info[1]) == "secret detail about x"
