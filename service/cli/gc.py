"""`moda gc [--yes]`: list, then remove, the artifact files that nothing in the registry names."""

from __future__ import annotations

import argparse
import time

from service.cli.http import CliError
from service.cli.options import HelpFormatter
from service.cli.tables import count, kilobytes, table


def gc(args: argparse.Namespace) -> int:
    from modules_store import CodedError, open_artifact_store, open_store
    from service.config import get_settings
    from service.jobs.garbage import collect, find_garbage

    settings = get_settings()
    try:
        artifacts = open_artifact_store(settings.resolved_artifacts_url)
        # Never create a registry here: beside existing artifacts, an empty one would call them all garbage.
        store = open_store(settings.resolved_database_url, create=False)
    except CodedError as error:
        raise CliError(error.message) from error
    try:
        garbage = find_garbage(store, artifacts, min_age_s=args.min_age_hours * 3600)
        total = sum(artifact.size for artifact in garbage)
        if not garbage:
            print(f"no unreferenced artifacts older than {args.min_age_hours:g} h")
            return 0
        now = time.time()
        rows = [[a.sha256, kilobytes(a.size, bytes_per_param=1), f"{(now - a.modified) / 3600:,.1f}"] for a in garbage]
        print(table(["SHA256", "SIZE kB", "AGE h"], rows, unbroken=("SHA256",)))
        print(f"{count(len(garbage))} unreferenced artifacts, {total / 1e6:,.1f} MB")
        if not args.yes:
            print("nothing removed: run `moda gc --yes` to remove them")
            return 0
        collected = collect(store, artifacts, garbage)
        print(f"removed {count(len(collected.removed))} artifacts, {collected.bytes / 1e6:,.1f} MB")
        if collected.kept:
            print(f"kept {count(len(collected.kept))} that the registry came to name meanwhile")
        return 0
    finally:
        store.close()


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "gc",
        help="list (and with --yes remove) artifact files that nothing in the registry names",
        description="List the artifact files (weights, masks, ONNX graphs) that no model, module,\n"
        "composition or unfinished job names, such as those a crashed or failed job wrote; with --yes,\n"
        "remove them. Files younger than --min-age-hours are spared: a writer may be about to name\n"
        "them. Runs on the server's own MODA_HOME / MODA_DATABASE_URL / MODA_ARTIFACTS_URL.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--yes", action="store_true", help="remove them (default: only list them)")
    p.add_argument(
        "--min-age-hours", type=float, default=1.0, metavar="H", help="spare files younger than this (default: 1)"
    )
    p.set_defaults(run=gc)
