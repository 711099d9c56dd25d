"""Normalising and checking what callers hand to the store, before any SQL runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modules_store.errors import InvalidArgument


def as_json(value: Any, field: str) -> Any:
    """`value` as it will read back from a JSON column: tuples become lists, keys become strings.

    Storing the round-tripped value keeps the entity returned by a create equal to the one read
    back later, and refuses what PostgreSQL's JSON type would refuse (NaN, Infinity) on SQLite too.
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"{field} must be JSON-serialisable without NaN/Infinity: {error}") from error


def require_text(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be a non-empty string")


def string_list(values: Sequence[str], what: str) -> list[str]:
    # A bare string is a Sequence[str] too; taking it apart into characters would be a silent bug.
    if isinstance(values, str) or not all(isinstance(value, str) for value in values):
        raise InvalidArgument(f"{what} must be a list of strings")
    return list(values)
