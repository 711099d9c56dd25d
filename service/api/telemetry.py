"""Prometheus metrics: requests and latency per route, jobs by status, session-cache hits."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modules_store import JobStatus


class _StateCollector(Collector):
    """Read at scrape time from the registry and the session cache, so it is never stale."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        services = getattr(self.app.state, "services", None)
        if services is None:
            return
        jobs = GaugeMetricFamily("moda_jobs", "Jobs by status", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([str(status)], services.store.list_jobs(status=status, limit=1).total)
        yield jobs
        cache = services.sessions
        hits = CounterMetricFamily("moda_session_cache", "ONNX Runtime session cache lookups", labels=["result"])
        hits.add_metric(["hit"], cache.hits)
        hits.add_metric(["miss"], cache.misses)
        yield hits
        yield GaugeMetricFamily("moda_session_cache_evictions", "Sessions evicted", value=cache.evictions)


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

    async def middleware(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # it becomes a 500 outside this middleware (ServerErrorMiddleware): count it
            self._record(request, started, 500)
            raise
        self._record(request, started, response.status_code)
        return response

    def _record(self, request: Request, started: float, status: int) -> None:
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")  # the template, not the id: bounded label values
        self.latency.labels(request.method, path).observe(time.perf_counter() - started)
        self.requests.labels(request.method, path, str(status)).inc()
