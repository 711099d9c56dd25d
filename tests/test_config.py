"""Settings: refused when they would silently mean something else than they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings
from tests.live_server import REPO, free_port


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_api_key_is_refused_rather_than_leaving_the_api_open(blank: str) -> None:
    with pytest.raises(ValidationError, match="MODA_API_KEY is set but blank"):
        Settings(api_key=blank)
    assert Settings(api_key="k3y").api_key == "k3y"


def test_moda_serve_will_not_start_with_a_blank_key(tmp_path: Path) -> None:
    env = {"MODA_API_KEY": "", "MODA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", str(free_port())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "error: invalid settings: MODA_API_KEY" in done.stderr and "blank" in done.stderr
    assert "Traceback" not in done.stderr
