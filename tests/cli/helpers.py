"""Running the real `moda` command: in-process (`main([...])`) or as `python -m service` subprocesses."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from service.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def progress(self) -> str:
        """stderr with each line's tqdm redraws, keeping every drawn state on its own line."""
        return self.err.replace("\r", "\n")

    def value(self, key: str) -> str:
        """The value of `key` in a `key  value` listing on stdout."""
        match = re.search(rf"^{re.escape(key)}\s{{2,}}(.+)$", self.out, re.MULTILINE)
        assert match, f"no {key!r} line in:\n{self.out}"
        return match.group(1).strip()


def moda(*argv: str) -> Result:
    """`moda ARGV...` in this process: the exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(argv))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def moda_process(*argv: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> Result:
    """`python -m service ARGV...` as its own process, as a shell runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "service", *argv],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def popen_moda(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
