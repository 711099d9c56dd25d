"""`moda delete model|module|composition ID [--cascade]`: remove from the registry, files and all."""

from __future__ import annotations

import argparse

from service.cli.http import CliError, HubClient
from service.cli.options import add_client_command

PATHS = {"model": "/v1/models", "module": "/v1/modules", "composition": "/v1/compositions"}


def delete(args: argparse.Namespace) -> int:
    if args.cascade and args.kind == "composition":
        raise CliError("--cascade deletes the compositions of a model or module; a composition has none", 2)
    params = {"cascade": "true"} if args.cascade else {}
    with HubClient.from_args(args) as client:
        client.request("DELETE", f"{PATHS[args.kind]}/{args.id}", params=params)
    print(f"deleted {args.kind} {args.id}" + (" and the compositions using it" if args.cascade else ""))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(
        commands,
        "delete",
        delete,
        help="delete a model (with its modules), a module or a composition, and the files nothing else uses",
        description="Delete a model (with its modules), a module or a composition, and the files nothing else "
        "uses. A model or module that compositions use is refused unless --cascade deletes those too; "
        "one that a queued or running job reads is refused until the job ends.",
        json_flag=False,
    )
    p.add_argument("kind", choices=sorted(PATHS), help="what to delete")
    p.add_argument("id", metavar="ID")
    p.add_argument("--cascade", action="store_true", help="also delete the compositions that use it (default: refuse)")
