"""`moda` — argument parsing and dispatch; each command lives in its own module."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from service.cli import server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moda", description="MODA Hub: modular training and module composition"
    )
    parser.add_argument(
        "--url", default=os.environ.get("MODA_URL", "http://127.0.0.1:8000"), help="service URL (MODA_URL)"
    )
    parser.add_argument("--api-key", default=os.environ.get("MODA_API_KEY"), help="bearer key (MODA_API_KEY)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    sys.exit(args.run(args) or 0)
