"""`moda serve` and `moda worker`: the processes of the service itself."""

from __future__ import annotations

import argparse

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
    p = commands.add_parser("serve", help="run the HTTP service (and its local job workers)")
    p.add_argument("--host", default=settings.host)
    p.add_argument("--port", type=int, default=settings.port)
    p.set_defaults(run=serve)

    p = commands.add_parser("worker", help="run a Celery worker for MODA_EXECUTOR=celery")
    p.add_argument("--concurrency", type=int, default=1, help="jobs run at once by this worker")
    p.set_defaults(run=worker)

    p = commands.add_parser("migrate", help="apply database migrations and exit")
    p.set_defaults(run=migrate)
