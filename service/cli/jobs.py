"""`moda jobs`, `moda job ID`, `moda cancel ID`: the service's job queue."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from service.cli.http import HubClient
from service.cli.options import add_client_command, positive_int
from service.cli.progress import describe_progress
from service.cli.tables import cell, duration, key_values, print_json, seconds_between, table, when

# modules_store.JobStatus, spelled out: the CLI is an HTTP client and does not import the registry.
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={cell(v)}" for k, v in params.items() if v is not None)


def _result(result: dict[str, Any]) -> str:
    parts = []
    for key, value in result.items():
        if isinstance(value, list):
            parts.append(f"{key}=[{len(value)}]")
        else:
            parts.append(f"{key}={cell(value)}")
    return " ".join(parts)


def _detail(job: dict[str, Any], width: int = 60) -> str:
    """What a row of `moda jobs` says about a job: where it is, what it made, or why it stopped."""
    if job["status"] == "running":
        return describe_progress(job)
    if job["status"] == "succeeded":
        made = [
            f"{key.removesuffix('_id')} {job['result'][key]}"
            for key in ("model_id", "composition_id")
            if job["result"].get(key)
        ]
        return ", ".join(made)
    if job.get("error"):
        error = " ".join(job["error"].split())
        return error if len(error) <= width else error[: width - 1] + "…"
    return ""


def list_jobs(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        page = client.get("/v1/jobs", status=args.status, kind=args.kind, limit=args.limit)
    if args.json:
        print_json(page)
        return 0
    if not page["items"]:
        print("no jobs" + (f" with status {args.status}" if args.status else ""))
        return 0
    rows = [[job["id"], job["kind"], job["status"], when(job["created_at"]), _detail(job)] for job in page["items"]]
    print(table(["ID", "KIND", "STATUS", "CREATED", "DETAIL"], rows, optional=["CREATED"]))
    if page["total"] > len(page["items"]):
        print(f"({len(page['items'])} of {page['total']}; see more with --limit)")
    return 0


def job_details(job: dict[str, Any]) -> str:
    started, finished = job.get("started_at"), job.get("finished_at")
    ran = seconds_between(started, finished or (datetime.now(UTC).isoformat() if started else None))
    requested = job.get("cancel_requested") and job["status"] != "cancelled"
    pairs: list[tuple[str, object]] = [
        ("job", job["id"]),
        ("kind", job["kind"]),
        ("status", job["status"] + (" (cancel requested)" if requested else "")),
        ("progress", describe_progress(job) if job["status"] == "running" else None),
        ("params", _params(job["params"])),
        ("result", _result(job["result"]) if job.get("result") else None),
        ("error", job.get("error")),
        ("attempts", f"{job['attempts']} of {job['max_attempts']}"),
        ("created", when(job["created_at"])),
        ("started", when(started) if started else None),
        ("finished", when(finished) if finished else None),
        ("ran for" if finished else "running for", duration(ran) if ran is not None else None),
    ]
    return key_values((k, v) for k, v in pairs if v is not None)


def show_job(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        job = client.get(f"/v1/jobs/{args.job_id}")
    if args.json:
        print_json(job)
    else:
        print(job_details(job))
    return 0


def cancel_job(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        job = client.post(f"/v1/jobs/{args.job_id}/cancel")
    if args.json:
        print_json(job)
    elif job["status"] == "cancelled":
        print(f"job {job['id']} cancelled")
    else:
        print(f"job {job['id']}: cancellation requested; it stops within one training batch")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(commands, "jobs", list_jobs, help="list jobs, newest first")
    p.add_argument("--status", choices=STATUSES, help="only jobs in this state (default: any)")
    p.add_argument("--kind", metavar="KIND", help="only jobs of this kind, e.g. train or modularize (default: any)")
    p.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50)")

    p = add_client_command(commands, "job", show_job, help="show one job: params, progress, result, error")
    p.add_argument("job_id", metavar="JOB_ID")

    p = add_client_command(commands, "cancel", cancel_job, help="cancel a queued or running job")
    p.add_argument("job_id", metavar="JOB_ID")
