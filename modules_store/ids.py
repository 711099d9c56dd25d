"""Identifiers: random ids for rows, content-derived ids for compositions."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence

from modules_store.errors import InvalidArgument

COMPOSITION_ID_HEX = 32  # as wide as every other id
# Composition ids were the first 24 hex digits of the same hash before they grew to 32. Registries
# written then keep their compositions under those ids (clients hold them), and a composition asked
# for by its 32-digit id is found under them too, so the same modules are never composed twice.
LEGACY_COMPOSITION_ID_HEX = 24
_CURRENT_FORM = re.compile(f"[0-9a-f]{{{COMPOSITION_ID_HEX}}}")


def new_id() -> str:
    """A fresh row id: 32 lowercase hex characters (a UUID4 without dashes)."""
    return uuid.uuid4().hex


def composition_id(module_ids: Sequence[str], strategy: str, data: str | None = None) -> str:
    """The id of the composition of `module_ids` under `strategy`: 32 hex chars of a sha256.

    `data` names the data a calibrated (or replace) composition was fitted on, e.g. "digits" or
    "npz:faces/v2": the same modules calibrated on other data are another composition. Strategies
    fitted on no data leave it out.

    The ids are sorted first, so the same selection asked for in another order is the same
    composition (the API creates compositions idempotently on this id). The hashed text is
    canonical JSON, so the recipe can be reproduced in any language: the first 32 hex digits of
    sha256 of the ASCII text (other characters as \\uXXXX escapes) of

        {"data":DATA,"module_ids":[SORTED IDS],"strategy":STRATEGY}

    with keys sorted and no spaces, and without the "data" key at all when `data` is None (so the
    ids of compositions fitted on no data are what they were before `data` existed).

    Compositions stored before ids had 32 digits keep the first 24 (`composition_lookup_ids`).
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
    if data is not None and not data:
        raise InvalidArgument("a composition's data must be named by a non-empty key, or None")
    identity: dict[str, object] = {"module_ids": sorted(module_ids), "strategy": strategy}
    if data is not None:
        identity["data"] = data
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:COMPOSITION_ID_HEX]


def composition_lookup_ids(composition_id: str) -> tuple[str, ...]:
    """The ids the composition `composition_id` may be stored under, in order of preference: that
    id, then for one of 32 hex digits its first 24, the id a registry written before gave it."""
    if _CURRENT_FORM.fullmatch(composition_id):
        return composition_id, composition_id[:LEGACY_COMPOSITION_ID_HEX]
    return (composition_id,)
