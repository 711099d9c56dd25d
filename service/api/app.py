"""The FastAPI application: opens the registry, starts the job executor, mounts the routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modules_store import open_artifact_store, open_store
from service.api.app_info import VERSION
from service.api.deps import Services
from service.api.errors import install_error_handlers
from service.api.guards import ApiKeyGate, BodySizeLimit, protected_routes
from service.api.routes import compositions, health, jobs, models, modules, v2
from service.api.telemetry import Telemetry
from service.config import Settings, get_settings
from service.jobs.composer import Composer
from service.jobs.executor import make_executor
from service.jobs.reaper import Reaper
from service.serving.sessions import SessionCache

log = logging.getLogger(__name__)


def open_services(settings: Settings) -> Services:
    settings.home.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_database_url)  # migrations run here
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    return Services(
        settings=settings,
        store=store,
        artifacts=artifacts,
        executor=make_executor(settings),
        composer=Composer(store, artifacts, settings),
        sessions=SessionCache(artifacts.local_path, settings.session_cache_size),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = open_services(settings)
        services.executor.start()
        reaper = Reaper(settings, services.store, services.executor)
        reaper.start()
        app.state.services = services
        log.info("MODA Hub ready: docs at http://%s:%s/docs", settings.host, settings.port)
        try:
            yield
        finally:
            reaper.stop()
            services.executor.stop()
            services.store.close()

    app = FastAPI(
        title="MODA Hub",
        version=VERSION,
        description="Modular training (MODA), one ONNX module per class, compose-and-predict, "
        "and the Open Inference Protocol (V2) for every composition.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    telemetry = Telemetry(app)
    app.state.telemetry = telemetry
    app.middleware("http")(telemetry.middleware)

    # Added last, so they run first: before telemetry, and before any route reads the body.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes, max_mb=settings.max_upload_mb)
    routers = (jobs.router, models.router, modules.router, compositions.router, v2.router, health.router)
    app.add_middleware(ApiKeyGate, protected=protected_routes(routers), api_key=settings.api_key)  # outermost

    for router in routers:
        app.include_router(router)
    return app
