"""`--api-key` / MODA_API_KEY against a server that requires a key (MODA_API_KEY set on the server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.helpers import moda, moda_process
from tests.live_server import LiveServer

KEY = "cli-test-key"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("cli-locked"), {"MODA_API_KEY": KEY, "MODA_WORKERS": "1"}) as server:
        yield server


def test_without_the_key_the_refusal_is_readable(locked: LiveServer) -> None:
    refused = moda("--url", locked.url, "cancel", "no-such-job")
    assert refused.code == 1 and refused.out == ""
    assert refused.err.startswith("error: UNAUTHENTICATED: ")
    assert "--api-key" in refused.err  # says how to fix it

    wrong = moda("--url", locked.url, "--api-key", "not-the-key", "cancel", "no-such-job")
    assert wrong.code == 1 and wrong.err.startswith("error: UNAUTHENTICATED: ")


def test_the_key_is_sent_from_the_option_or_the_environment(
    locked: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the key check, the service looks for the job: NOT_FOUND proves the key was accepted.
    before = moda("--url", locked.url, "--api-key", KEY, "cancel", "no-such-job")
    assert before.code == 1 and before.err.startswith("error: NOT_FOUND: ")
    after = moda("cancel", "no-such-job", "--url", locked.url, "--api-key", KEY)
    assert after.code == 1 and after.err.startswith("error: NOT_FOUND: ")

    monkeypatch.setenv("MODA_API_KEY", KEY)
    from_env = moda_process("--url", locked.url, "cancel", "no-such-job")
    assert from_env.code == 1 and from_env.err.startswith("error: NOT_FOUND: ")


def test_reading_needs_no_key(locked: LiveServer) -> None:
    listed = moda("--url", locked.url, "jobs")
    assert (listed.code, listed.out.strip()) == (0, "no jobs")
