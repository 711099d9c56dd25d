"""/healthz (the process answers), /readyz (database and artifact store reachable), /metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import ServicesDep

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
    for name, ping in (("database", services.store.ping), ("artifacts", services.artifacts.ping)):
        try:
            ping()
            checks[name] = "ok"
        except Exception as error:  # any failure means not ready; say which
            log.warning("readiness check %s failed: %s", name, error)
            checks[name] = "unavailable"
    return all(v == "ok" for v in checks.values()), checks


@router.get("/readyz")
def readyz(services: ServicesDep) -> JSONResponse:
    ready, checks = readiness(services)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
