"""`moda serve` and `moda worker`: the processes of the service itself."""

from __future__ import annotations

import argparse

from service.cli.options import HelpFormatter
from service.config import get_settings


def serve(args: argparse.Namespace) -> int:
    from service.api.serve import api_processes
    from service.api.serve import serve as run_server

    settings = get_settings().model_copy(update={"host": args.host, "port": args.port})
    print(
        f"MODA Hub on http://{args.host}:{args.port}  (API docs: http://{args.host}:{args.port}/docs, "
        f"{api_processes(settings)} API processes)",
        flush=True,
    )
    run_server(settings)
    return 0


def worker(args: argparse.Namespace) -> int:
    from service.jobs.celery_executor import run_worker

    return run_worker(get_settings(), concurrency=args.concurrency)


def migrate(args: argparse.Namespace) -> int:
    """Bring the registry schema to the latest revision (the api and workers also do it on start)."""
    from modules_store import open_store, redacted_url

    settings = get_settings()
    open_store(settings.resolved_database_url).close()
    print(f"registry schema is current at {redacted_url(settings.resolved_database_url)}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = commands.add_parser(
        "serve",
        help="run the HTTP service (and its local job workers)",
        description="Run MODA Hub: the JSON /v1 API, the V2 inference protocol, /docs and /metrics,\n"
        "in MODA_API_PROCESSES API processes sharing the port, with MODA_WORKERS local job workers\n"
        "(MODA_EXECUTOR=local) and stale-job recovery in this supervising process. Every setting is a\n"
        "MODA_* environment variable (see README.md, Configuration).\n\n"
        "  moda serve --host 0.0.0.0 --port 8000",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--host", default=settings.host, help="interface to listen on (env MODA_HOST)")
    p.add_argument("--port", type=int, default=settings.port, help="TCP port (env MODA_PORT)")
    p.set_defaults(run=serve)

    p = commands.add_parser(
        "worker",
        help="run a Celery worker for MODA_EXECUTOR=celery",
        description="Run a Celery worker that takes jobs from MODA_BROKER_URL and records them in\n"
        "MODA_DATABASE_URL (for MODA_EXECUTOR=celery; the local executor needs none).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--concurrency", type=int, default=1, help="jobs run at once by this worker")
    p.set_defaults(run=worker)

    p = commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        description="Bring the registry at MODA_DATABASE_URL to the latest schema, then exit.",
        formatter_class=HelpFormatter,
    )
    p.set_defaults(run=migrate)
