"""`moda compositions` (list) and `moda export COMPOSITION_ID`: what was composed, and taking it elsewhere."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from service.cli.http import CliError, HubClient
from service.cli.options import add_client_command, positive_int
from service.cli.tables import class_list, count, pct, percent_of, print_json, table, when

EXPORT_FORMATS = ("triton",)
_FILENAME = re.compile(r'filename="?([^";]+)"?')


def list_compositions(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        page = client.get("/v1/compositions", limit=args.limit)
    if args.json:
        print_json(page)
        return 0
    if not page["items"]:
        print("no compositions yet: compose modules with 'moda compose'")
        return 0
    rows = [
        [
            c["id"],
            class_list(k["label"] for k in c["classes"]),
            c["strategy"],
            count(c["params"]),
            percent_of(c["size_ratio"]),
            count(c["macs"]),
            pct(c.get("accuracy")),
            when(c["created_at"]),
        ]
        for c in page["items"]
    ]
    headers = ["ID", "CLASSES", "STRATEGY", "PARAMS", "OF MODEL", "MACS", "ACCURACY", "CREATED"]
    print(table(headers, rows, optional=["CREATED", "MACS", "STRATEGY"]))
    if page["total"] > len(page["items"]):
        print(f"({len(page['items'])} of {page['total']}; see more with --limit)")
    return 0


def archive_name(composition_id: str, export_format: str, disposition: str | None) -> str:
    """The file name the service suggests (Content-Disposition), else `<id>-<format>.tar.gz`."""
    match = _FILENAME.search(disposition or "")
    name = Path(match.group(1)).name if match else ""  # never a path the service chose
    return name or f"{composition_id}-{export_format}.tar.gz"


def write_new_file(path: Path, content: bytes, overwrite: bool) -> None:
    """All of `content` at `path` or nothing: written beside it, then renamed into place."""
    if path.exists() and not overwrite:
        raise CliError(f"{path} exists; pass --force to replace it", exit_code=2)
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, path)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}", exit_code=2) from error


def export(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        response = client.request(
            "GET", f"/v1/compositions/{args.composition_id}/export", params={"format": args.format}
        )
    name = archive_name(args.composition_id, args.format, response.headers.get("content-disposition"))
    path = Path(args.output) if args.output else Path(name)
    if path.is_dir():
        path = path / name
    write_new_file(path, response.content, args.force)
    summary: dict[str, Any] = {
        "composition": args.composition_id,
        "format": args.format,
        "path": str(path),
        "bytes": len(response.content),
    }
    if args.json:
        print_json(summary)
    else:
        print(f"saved {path} ({count(len(response.content))} bytes): a {args.format} model repository entry")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(commands, "compositions", list_compositions, help="list compositions, oldest first")
    p.add_argument("--limit", type=positive_int, default=50, help="at most this many")

    p = add_client_command(
        commands,
        "export",
        export,
        json_flag=True,
        help="save a composition as a model-repository archive for Triton / KServe",
        description="Download a composition packaged for the inference servers people already run:\n"
        "a Triton / KServe model-repository archive (config.pbtxt, 1/model.onnx, a labels file).\n\n"
        "  moda export 3f1c0a... -o models/",
    )
    p.add_argument("composition_id", metavar="COMPOSITION_ID")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="triton", help="archive layout")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file or directory to save to (default: the name the service gives, here)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing file")
