"""pydantic's validation errors said as one readable line, for every layer that validates with it
(request bodies in the API, job parameters in service/jobs)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# pydantic-core's names for the members of a union, which it puts in an error's location:
# "constrained-float", "dict[int,constrained-float]", "literal['a','b']", "function-after[...]", or a
# plain type's name. Its own vocabulary, so that a dict key like "k-1" is not taken for one.
_MEMBER_NAME = re.compile(
    r"[a-z][a-z-]*\[.*\]"
    r"|(?:constrained|function|is|lax-or|json-or|tagged|typed|model|dataclass)-[a-z-]+"
    r"|int|float|str|bool|bytes|none|date|time|datetime|timedelta|decimal|uuid|url",
    re.DOTALL,
)
_Loc = tuple[Any, ...]


def describe_validation_errors(errors: Sequence[Mapping[str, Any]], whole: str = "body") -> str:
    """pydantic's errors as one line: `where: message; ...`, a union's members said as alternatives
    ("train_fraction: either input should be greater than 0, or input should be a valid dictionary")
    rather than under pydantic's internal member names ("train_fraction.constrained-float: ...").

    Pure on pydantic's error dicts, so any layer that validates with pydantic can render with it;
    `whole` names what an error of the whole input (a model validator's) is about."""
    located = [(tuple(p for p in e["loc"] if p != "body"), str(e["msg"])) for e in errors]
    return "; ".join(_described(located, whole))


def _described(errors: list[tuple[_Loc, str]], whole: str, in_sentence: bool = False) -> list[str]:
    parts: list[str | _Loc] = []  # a _Loc stands in for its union's alternatives, rendered below
    unions: dict[_Loc, dict[str, list[tuple[_Loc, str]]]] = {}
    for loc, message in errors:
        at = _union_member_at(loc, errors)
        if at is None:
            parts.append(f"{_where(loc, whole)}: {_sentence_case(message) if in_sentence else message}")
            continue
        prefix = loc[:at]
        if prefix not in unions:
            unions[prefix] = {}
            parts.append(prefix)
        unions[prefix].setdefault(loc[at], []).append((loc[at + 1 :], message))
    return [part if isinstance(part, str) else _alternatives(part, unions[part], whole) for part in parts]


def _union_member_at(loc: _Loc, errors: list[tuple[_Loc, str]]) -> int | None:
    """Where in `loc` a union member's name stands, if anywhere. A failed union reports every member,
    so a member's name has a sibling (same prefix, another member's name); this keeps a field or
    dict key that merely looks like one (`k-1`) from being taken for it."""
    for i, part in enumerate(loc):
        if isinstance(part, str) and _MEMBER_NAME.fullmatch(part):
            siblings = {other[i] for other, _ in errors if len(other) > i and other[:i] == loc[:i]}
            if any(isinstance(s, str) and s != part and _MEMBER_NAME.fullmatch(s) for s in siblings):
                return i
    return None


def _alternatives(prefix: _Loc, members: dict[str, list[tuple[_Loc, str]]], whole: str) -> str:
    said = []
    for errors in members.values():
        if len(errors) == 1 and not errors[0][0]:
            said.append(_sentence_case(errors[0][1]))  # the member's own error: its message alone
        else:
            said.append("; ".join(_described(errors, whole, in_sentence=True)))
    return f"{_where(prefix, whole)}: either " + ", or ".join(said)


def _where(loc: _Loc, whole: str) -> str:
    return ".".join(str(p) for p in loc).replace(".[", "[") or whole  # "a.[key]" -> "a[key]"


def _sentence_case(text: str) -> str:
    """`Input should be ...` -> `input should be ...` inside a sentence; `JSON ...` stays."""
    return text[0].lower() + text[1:] if text[:2].istitle() else text
