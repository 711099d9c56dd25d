"""Schemathesis against the live app, bounded: no request it can make from /openapi.json gets a
server error or a response that breaks the documented schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.helpers import AUTH, start_server

# A fixed seed and budget, so a failure reproduces: `schemathesis run ... --seed 0`.
BUDGET = ["--seed", "0", "--max-examples", "8", "--max-time", "90", "--no-shrink", "--workers", "1"]
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
PHASES = "examples,coverage,fuzzing,stateful"


def test_generated_requests_get_no_server_error_and_match_the_schema(tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if cli is None:
        pytest.skip("schemathesis is not installed: pip install -e '.[dev]'")
    # Its own home and no job workers: the train jobs it queues stay queued, nothing else is touched.
    env = {"MODA_WORKERS": "0", "MODA_API_KEY": AUTH["Authorization"].removeprefix("Bearer ")}
    (tmp_path / "home").mkdir()
    with start_server(tmp_path / "home", env) as server:
        header = f"Authorization: {AUTH['Authorization']}"
        command = [cli, "run", f"{server.url}/openapi.json", "--checks", CHECKS, "--phases", PHASES, "-H", header]
        run = subprocess.run(
            command + BUDGET + ["--request-timeout", "30"],
            cwd=tmp_path,  # its .hypothesis folder goes there
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
