"""Aligned plain-text tables that fit the terminal, and the cell formats every command shares.

table(["ID", "ACCURACY"], [["a1", pct(97.8)]])      columns of numbers align right
key_values([("model", "a1"), ("accuracy", "97.80%")])
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

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


def terminal_width() -> int | None:
    """The columns a table must fit: COLUMNS when set, else the terminal's. None when stdout is not a
    terminal: a listing piped to grep or saved to a file keeps one line per row."""
    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _render(grid: Table, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False, emoji=False).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    width: int | None = None,
    optional: Sequence[str] = (),
    unbroken: Sequence[str] = ("ID",),
) -> str:
    """Columns as wide as their widest cell, fitted into `width` (default: the terminal's, if any): the
    `optional` columns are left out, in that order, while the table is too wide, then the widest
    cells wrap. Cells of `unbroken` columns (ids, which people copy) never wrap. A column whose
    cells are all numbers aligns right."""
    body = [[cell(v) for v in row] for row in rows]
    columns = list(zip(*([list(headers), *body]), strict=True)) if body else [[h] for h in headers]
    natural = [max(len(c) for c in column) for column in columns]
    width = width or terminal_width() or sum(natural) + 2 * len(natural)
    right = [bool(body) and all(_is_number(c) or c == MISSING for c in column[1:]) for column in columns]
    shown = list(range(len(headers)))
    for name in optional:
        if sum(natural[i] for i in shown) + 2 * (len(shown) - 1) <= width:
            break
        shown = [i for i in shown if headers[i] != name]

    grid = Table(box=None, pad_edge=False, padding=(0, 1), header_style="")  # plain columns, 2 spaces apart
    for i in shown:
        grid.add_column(
            headers[i],
            justify="right" if right[i] else "left",
            no_wrap=headers[i] in unbroken,
            overflow="fold",
            min_width=len(headers[i]) if headers[i] in unbroken else None,
        )
    for row in body:
        grid.add_row(*(row[i] for i in shown))
    return _render(grid, width)


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


def percent_of(share: float | None) -> str:
    """A 0..1 share as a percentage: 0.1234 -> `12.3%`."""
    return MISSING if share is None else f"{100 * share:.1f}%"


def kilobytes(params: int | None, bytes_per_param: int = 4) -> str:
    """The size of `params` float32 weights, in kB (1 kB = 1000 bytes)."""
    return MISSING if params is None else f"{params * bytes_per_param / 1000:,.1f}"


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
