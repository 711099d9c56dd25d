"""`moda` — argument parsing and dispatch; each command lives in its own module.

Exit codes: 0 success; 1 the service refused (`error: CODE: message`) or a job failed; 2 usage errors
and an unreachable service; 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

from service.cli import compose, compositions, delete, demo, gc, jobs, models, predict, replace, server, train
from service.cli.http import CliError
from service.cli.options import add_connection_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moda", description="MODA Hub: modular training and module composition")
    add_connection_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.add_commands(commands)
    train.add_commands(commands)
    jobs.add_commands(commands)
    models.add_commands(commands)
    compose.add_commands(commands)
    compositions.add_commands(commands)
    replace.add_commands(commands)
    delete.add_commands(commands)
    gc.add_commands(commands)
    predict.add_commands(commands)
    demo.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every schema check at INFO
    try:
        parser = build_parser()  # reads the MODA_* settings for the options' defaults
    except ValidationError as error:
        problems = "; ".join(f"MODA_{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors())
        print(f"error: invalid settings: {problems}", file=sys.stderr)
        sys.exit(2)
    args = parser.parse_args(argv)
    try:
        code = args.run(args) or 0
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        code = error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # `moda jobs | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
