"""/healthz (the process answers), /readyz (database and artifact store reachable), /metrics."""

from __future__ import annotations

import logging
import shutil

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import ServicesDep
from service.api.schemas import Readiness
from service.config import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:  # on the event loop: it answers while every worker thread is busy
    return {"status": "ok"}


def readiness(services: ServicesDep) -> tuple[bool, dict[str, str]]:
    """(ready, each check's outcome): ready when the database and the artifact store both answer.

    Anyone may ask, so the answer names the failing check only; why it failed (which host, which
    directory) goes to the log for the operator."""
    checks = {}
    for name, ping in (
        ("database", services.store.ping),
        ("artifacts", services.artifacts.ping),
        ("storage", lambda: _enough_free_space(services.settings)),
    ):
        try:
            ping()
            checks[name] = "ok"
        except Exception as error:  # any failure means not ready; say which
            log.warning("readiness check %s failed: %s", name, error)
            checks[name] = "unavailable"
    return all(v == "ok" for v in checks.values()), checks


def _enough_free_space(settings: Settings) -> None:
    """OSError when the disk under MODA_HOME has less than MODA_MIN_FREE_MB free: writes would fail."""
    free_mb = shutil.disk_usage(settings.home).free / (1024 * 1024)
    if free_mb < settings.min_free_mb:
        raise OSError(
            f"{free_mb:.0f} MB free under {settings.home}, less than MODA_MIN_FREE_MB={settings.min_free_mb:g}"
        )


@router.get(
    "/readyz",
    responses={
        200: {"model": Readiness, "description": "the database, the artifact store and the disk answer"},
        503: {"model": Readiness, "description": "a check failed: `checks` names it"},
    },
)
def readyz(services: ServicesDep) -> JSONResponse:
    ready, checks = readiness(services)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
