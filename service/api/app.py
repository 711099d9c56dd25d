"""The FastAPI application: opens the registry, starts the job executor, mounts the routers."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from modules_store import RegistryStore
from service.api.app_info import VERSION
from service.api.data_plane import DataPlane
from service.api.data_plane_docs import documented
from service.api.deps import Services
from service.api.errors import install_error_handlers
from service.api.guards import ApiKeyGate, BodyGuard, protected_routes
from service.api.routes import compositions, datasets, health, jobs, models, modules, v2
from service.api.telemetry import Telemetry, TelemetryMiddleware
from service.app.compositions import Compositions
from service.config import Settings, get_settings
from service.jobs.deletion import Deleter
from service.jobs.executor import Executor, make_executor
from service.jobs.reaper import Reaper
from service.jobs.worker import open_backends
from service.serving.admission import Admission
from service.serving.batching import Batcher
from service.serving.deletion_feed import DeletionFeed
from service.serving.predictor import CompositionCache, Predictor
from service.serving.sessions import SessionCache
from service.serving.threads import InferenceThreads
from service.web import install_web

log = logging.getLogger(__name__)


def open_services(settings: Settings) -> Services:
    settings.home.mkdir(parents=True, exist_ok=True)
    store, artifacts = open_backends(settings)  # migrations run here
    sessions = SessionCache(artifacts.local_path, settings.session_cache_size)
    deletions = DeletionFeed(store.deletion_mark, store.compositions_deleted_since)
    compositions = CompositionCache(
        store.get_composition,
        settings.composition_cache_size,
        deletions,
        on_forget=lambda served: sessions.discard(served.composition.onnx_sha256),
    )
    executor = make_executor(settings)
    predictor = Predictor(compositions, sessions, settings.max_batch)
    inference = InferenceThreads(settings.inference_threads, settings.inline_budget_ms / 1000)
    admission = Admission(settings.max_inflight)
    return Services(
        settings=settings,
        store=store,
        artifacts=artifacts,
        executor=executor,
        compositions=Compositions(store, artifacts, executor, settings),
        deleter=Deleter(store, artifacts, on_deleted=lambda deleted: compositions.forget(deleted.compositions)),
        sessions=sessions,
        predictor=predictor,
        admission=admission,
        inference=inference,
        batcher=Batcher(inference, predictor.logits, settings.batch_samples),
    )


class JobSupervision:
    """The executor's workers and the reaper: run by exactly one process of a server."""

    def __init__(self, settings: Settings, store: RegistryStore, executor: Executor) -> None:
        self.executor = executor
        self.reaper = Reaper(settings, store, executor)

    def start(self) -> None:
        self.executor.start()
        self.reaper.start()

    def stop(self) -> None:
        self.reaper.stop()
        self.executor.stop()


class HubApp(FastAPI):
    """FastAPI with the data plane in front of all of it: FastAPI's own entry (whose OpenTelemetry
    check reads the environment on every request) and its whole middleware stack (the error page,
    the body limit, the telemetry), whose wrappers cost a tenth of a small inference's CPU. The data
    plane answers its own errors and counts its own requests."""

    data_plane: DataPlane  # set by create_app; every other request it passes to FastAPI.__call__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.data_plane(scope, receive, send)


def create_app(settings: Settings | None = None, *, run_jobs: bool = True) -> FastAPI:
    """The app. With `run_jobs` it also runs the job workers and the reaper; `moda serve` with
    several API processes runs those once, in its supervising process, and its APIs without them."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = open_services(settings)
        jobs = JobSupervision(settings, services.store, services.executor) if run_jobs else None
        if jobs is not None:
            jobs.start()
        app.state.services = services
        log.info("MODA Hub ready: web UI at http://%s:%s/ (API docs: /docs)", settings.host, settings.port)
        try:
            yield
        finally:
            if jobs is not None:
                jobs.stop()
            services.inference.close()
            services.store.close()

    app = HubApp(
        title="MODA Hub",
        version=VERSION,
        description="Modular training (MODA), one ONNX module per class, compose-and-predict, "
        "and the Open Inference Protocol (V2) for every composition.",
        lifespan=lifespan,
        docs_url=None,  # served by install_web with the assets from the app itself, not a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    telemetry = Telemetry(app)
    app.state.telemetry = telemetry
    app.data_plane = DataPlane(functools.partial(FastAPI.__call__, app), fastapi=app, telemetry=telemetry)
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)

    # Added last, so they run first: before telemetry, and before any route reads the body.
    app.add_middleware(
        BodyGuard, max_bytes=settings.max_upload_bytes, max_mb=settings.max_upload_mb, idle_s=settings.body_timeout_s
    )
    routers = (
        jobs.router,
        models.router,
        modules.router,
        compositions.router,
        datasets.router,
        v2.router,
        health.router,
    )
    protected = protected_routes(routers)
    app.add_middleware(ApiKeyGate, protected=protected, api_key=settings.api_key, auth=settings.auth)
    app.openapi = lambda: documented(app, protected)  # type: ignore[method-assign]  # FastAPI's documented way to amend the schema

    for router in routers:
        app.include_router(router)
    install_web(app)
    return app
