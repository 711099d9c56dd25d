"""Identifiers: random ids for rows, content-derived ids for compositions."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence

from modules_store.errors import InvalidArgument


def new_id() -> str:
    """A fresh row id: 32 lowercase hex characters (a UUID4 without dashes)."""
    return uuid.uuid4().hex


def composition_id(module_ids: Sequence[str], strategy: str) -> str:
    """The id of the composition of `module_ids` under `strategy`: 24 hex chars of a sha256.

    The ids are sorted first, so the same selection asked for in another order is the same
    composition (the API creates compositions idempotently on this id). The hashed text is
    canonical JSON, so the recipe can be reproduced in any language.
    """
    if isinstance(module_ids, str):
        # A bare string is a Sequence[str] of characters: almost certainly a caller bug.
        raise InvalidArgument("module_ids must be a list of module ids, not a string")
    if not module_ids:
        raise InvalidArgument("a composition needs at least one module")
    if len(set(module_ids)) != len(module_ids):
        raise InvalidArgument("a composition cannot use the same module twice")
    if not strategy:
        raise InvalidArgument("a composition needs a strategy")
    canonical = json.dumps(
        {"module_ids": sorted(module_ids), "strategy": strategy},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:24]
