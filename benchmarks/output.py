"""Where a benchmark's JSON goes: a file, or stdout for `--json -`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(result: dict[str, Any], path: str) -> None:
    text = json.dumps(result, indent=2)
    if path == "-":
        print(text)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")
