"""Aligned plain-text tables and the cell formats every command shares.

table(["ID", "ACCURACY"], [["a1", pct(97.8)]])      columns of numbers align right
key_values([("model", "a1"), ("accuracy", "97.80%")])
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

MISSING = "-"
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?(\.\d+)?([eE][-+]?\d+)?%?$")


def _is_number(cell: str) -> bool:
    return cell != "" and bool(_NUMBER.match(cell)) and any(ch.isdigit() for ch in cell)


def cell(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], gap: int = 2) -> str:
    """Columns as wide as their widest cell; a column whose cells are all numbers aligns right."""
    body = [[cell(v) for v in row] for row in rows]
    columns = list(zip(*([list(headers), *body]), strict=True)) if body else [[h] for h in headers]
    widths = [max(len(c) for c in column) for column in columns]
    right = [bool(body) and all(_is_number(c) or c == MISSING for c in column[1:]) for column in columns]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return (" " * gap).join(parts).rstrip()

    return "\n".join([line(headers)] + [line(row) for row in body])


def key_values(pairs: Iterable[tuple[str, object]]) -> str:
    """Two columns, `key  value`, for one object's details."""
    pairs = [(k, cell(v)) for k, v in pairs]
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}".rstrip() for k, v in pairs)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# Cell formats -------------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    """A percentage the API reports on the 0..100 scale."""
    return MISSING if value is None else f"{value:.2f}%"


def ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


def count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def loss(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


def when(iso: str | None) -> str:
    """An API timestamp as `YYYY-MM-DD HH:MM:SS` (UTC, as the API gives it)."""
    if not iso:
        return MISSING
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    a = datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return (b - a).total_seconds()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def class_list(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)
