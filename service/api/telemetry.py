"""Prometheus metrics: requests and latency per route, jobs by status, session-cache hits."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modules_store import JobStatus

log = logging.getLogger(__name__)


class _StateCollector(Collector):
    """Read at scrape time from the registry and the session cache, so it is never stale."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        services = getattr(self.app.state, "services", None)
        if services is None:
            return
        try:
            counts = [(status, services.store.list_jobs(status=status, limit=1).total) for status in JobStatus]
        except Exception:  # the database is away: the other metrics still answer, and say so
            log.warning("metrics: the job counts are unavailable", exc_info=True)
            counts = None
        yield GaugeMetricFamily("moda_registry_up", "1 when the job counts could be read", value=counts is not None)
        if counts is not None:
            jobs = GaugeMetricFamily("moda_jobs", "Jobs by status", labels=["status"])
            for status, total in counts:
                jobs.add_metric([str(status)], total)
            yield jobs
        cache = services.sessions
        hits = CounterMetricFamily("moda_session_cache", "ONNX Runtime session cache lookups", labels=["result"])
        hits.add_metric(["hit"], cache.hits)
        hits.add_metric(["miss"], cache.misses)
        yield hits
        yield GaugeMetricFamily("moda_session_cache_evictions", "Sessions evicted", value=cache.evictions)
        admission = services.admission
        yield GaugeMetricFamily("moda_inferences_in_flight", "Inferences running now", value=admission.in_flight)
        yield CounterMetricFamily("moda_inferences_refused", "Inferences refused with 429", value=admission.refused)
        batcher = services.batcher
        yield CounterMetricFamily(
            "moda_inferences_inline",
            "Inferences decoded and encoded on the event loop, not a thread",
            value=batcher.served,
        )
        yield CounterMetricFamily("moda_batches_run", "ONNX Runtime runs made by the batcher", value=batcher.runs)
        yield CounterMetricFamily(
            "moda_batched_requests", "Requests those runs answered: more than runs when merged", value=batcher.requests
        )


class Telemetry:
    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moda_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "moda_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )
        self.registry.register(_StateCollector(app))
        # Each (method, route template, status)'s two series: bounded, as their label values are.
        self._series: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}

    def observe(self, method: str, route: str, started: float, status: int) -> None:
        """One answered request; `route` is its path template, not the path: bounded label values."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:  # labels() takes a lock and builds its key on every call: once per series
            series = self._series[key] = (
                self.latency.labels(method, route),
                self.requests.labels(method, route, str(status)),
            )
        series[0].observe(time.perf_counter() - started)
        series[1].inc()


class TelemetryMiddleware:
    """Pure ASGI, not BaseHTTPMiddleware: that one re-streams every request and response through a
    task and memory streams, a cost paid by every prediction."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what ServerErrorMiddleware outside answers when the app raises

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.telemetry.observe(scope["method"], route, started, status)
