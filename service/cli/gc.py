"""`moda gc [--yes]`: list, then remove, the artifact files that nothing in the registry names, and
the temporary files of writes whose writers crashed."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable

from service.cli.http import CliError
from service.cli.options import HelpFormatter
from service.cli.tables import count, kilobytes, table


def gc(args: argparse.Namespace) -> int:
    from modules_store import CodedError, open_artifact_store, open_store
    from service.config import get_settings
    from service.jobs.garbage import collect, find_garbage, find_partial_writes, remove_partial_writes

    settings = get_settings()
    try:
        artifacts = open_artifact_store(settings.resolved_artifacts_url)
        # Never create a registry here: beside existing artifacts, an empty one would call them all garbage.
        store = open_store(settings.resolved_database_url, create=False)
    except CodedError as error:
        raise CliError(error.message) from error
    try:
        min_age_s = args.min_age_hours * 3600
        garbage = find_garbage(store, artifacts, min_age_s=min_age_s)
        partial = find_partial_writes(artifacts, min_age_s=min_age_s)
        if not garbage and not partial:
            print(f"no unreferenced artifacts nor unfinished writes older than {args.min_age_hours:g} h")
            return 0
        now = time.time()
        if garbage:
            rows = [[a.sha256, _size(a.size), _age(now, a.modified)] for a in garbage]
            print(table(["SHA256", "SIZE kB", "AGE h"], rows, unbroken=("SHA256",)))
            print(f"{count(len(garbage))} unreferenced artifacts, {_mb(a.size for a in garbage)} MB")
        if partial:
            rows = [[p.name, _size(p.size), _age(now, p.modified)] for p in partial]
            print(table(["UNFINISHED WRITE", "SIZE kB", "AGE h"], rows, unbroken=("UNFINISHED WRITE",)))
            what = "unfinished writes (temporary files of crashed writers)"
            print(f"{count(len(partial))} {what}, {_mb(p.size for p in partial)} MB")
        if not args.yes:
            print("nothing removed: run `moda gc --yes` to remove them")
            return 0
        if garbage:
            collected = collect(store, artifacts, garbage)
            print(f"removed {count(len(collected.removed))} artifacts, {collected.bytes / 1e6:,.1f} MB")
            if collected.kept:
                print(
                    f"kept {count(len(collected.kept))} named again or held by a writer since: the next gc looks again"
                )
        if partial:
            removed = remove_partial_writes(artifacts, partial)
            print(f"removed {count(len(removed))} unfinished writes, {_mb(p.size for p in removed)} MB")
            if len(removed) < len(partial):
                print(f"kept {count(len(partial) - len(removed))} written to meanwhile")
        return 0
    except CodedError as error:  # the registry failed mid-run: what was removed before stays removed
        raise CliError(f"{error.message}; gc stopped before removing anything more") from error
    finally:
        store.close()


def _size(size: int) -> str:
    return kilobytes(size, bytes_per_param=1)


def _age(now: float, modified: float) -> str:
    return f"{(now - modified) / 3600:,.1f}"


def _mb(sizes: Iterable[int]) -> str:
    return f"{sum(sizes) / 1e6:,.1f}"


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "gc",
        help="list (and with --yes remove) artifact files that nothing in the registry names",
        description="List the artifact files (weights, masks, ONNX graphs) that no model, module,\n"
        "composition or unfinished job names, such as those a crashed or failed job wrote, and the\n"
        "temporary files (.incoming-*) of writes whose writers crashed; with --yes, remove them.\n"
        "Files younger than --min-age-hours are spared: a writer may be about to name them, or be\n"
        "writing them. Runs on the server's own MODA_HOME / MODA_DATABASE_URL / MODA_ARTIFACTS_URL.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--yes", action="store_true", help="remove them (default: only list them)")
    p.add_argument(
        "--min-age-hours", type=float, default=1.0, metavar="H", help="spare files younger than this (default: 1)"
    )
    p.set_defaults(run=gc)
