"""Options shared by the commands that talk to the service, and argument types."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

DEFAULT_URL = "http://127.0.0.1:8000"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option's help ends with its default unless it already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return help_text(action).replace("%", "%%")


def help_text(action: argparse.Action) -> str:
    """An option's help as `--help` shows it: with `(default: X)` when it has a default and does not
    say one already (flags, which default to off, required options and positional arguments have
    none to say)."""
    text = action.help or ""
    default = action.default
    if "default" in text or not action.option_strings or action.nargs == 0 or action.required:
        return text
    if default is None or default is argparse.SUPPRESS:
        return text
    shown = ",".join(default) if isinstance(default, list) else default
    if text.endswith(")") and "(env " in text:  # `(env MODA_PORT)` -> `(env MODA_PORT, default: 8000)`
        return f"{text[:-1]}, default: {shown})"
    return f"{text} (default: {shown})"


def add_connection_options(parser: argparse.ArgumentParser, top_level: bool) -> None:
    """--url and --api-key, before the command (`moda --url U jobs`) or after it (`moda jobs --url U`).

    After the command they default to SUPPRESS, so they only override the top-level values when given.
    """
    url_default = os.environ.get("MODA_URL", DEFAULT_URL) if top_level else argparse.SUPPRESS
    key_default = os.environ.get("MODA_API_KEY") if top_level else argparse.SUPPRESS
    parser.add_argument("--url", default=url_default, help=f"service URL (env MODA_URL, default {DEFAULT_URL})")
    parser.add_argument("--api-key", default=key_default, help="bearer key (env MODA_API_KEY, default none)")


def _connection_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("service")
    add_connection_options(group, top_level=False)  # type: ignore[arg-type]  # a group has the parser's add_argument
    return parent


CONNECTION = _connection_parent()


def add_client_command(
    commands: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int | None],
    help: str,
    description: str | None = None,
    json_flag: bool = True,
) -> argparse.ArgumentParser:
    """A sub-command that talks to the service (with --url/--api-key, and --json unless told not)."""
    parser = commands.add_parser(
        name,
        help=help,
        description=description or help,
        parents=[CONNECTION],
        formatter_class=HelpFormatter,
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the raw JSON the service returned")
    parser.set_defaults(run=run)
    return parser


def class_selection(text: str) -> list[str]:
    """`0,1,2` or `cat,dog` -> the tokens; argparse reports an empty or repeated selection (exit 2)."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens:
        raise argparse.ArgumentTypeError("give classes as a comma-separated list, e.g. 0,1,2")
    if len(set(tokens)) != len(tokens):
        raise argparse.ArgumentTypeError(f"a class is listed twice in {text!r}")
    return tokens


def class_indices(text: str) -> list[int]:
    """`0,1,2` -> [0, 1, 2] (class indices of a dataset)."""
    tokens = class_selection(text)
    if not all(t.isdigit() for t in tokens):
        raise argparse.ArgumentTypeError(f"classes are indices here, e.g. 0,1,2; got {text!r}")
    return [int(t) for t in tokens]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value
