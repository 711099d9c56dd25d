"""The CLI's pieces without a server: tables, server-sent events, following a job, error translation."""

from __future__ import annotations

import argparse
import http.server
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.cli.compose import accuracy_text
from service.cli.follow import follow_job, parse_events
from service.cli.http import ApiError, HubClient, Unreachable
from service.cli.main import build_parser
from service.cli.options import help_text
from service.cli.progress import JobProgress, check_succeeded, describe_progress, training_postfix
from service.cli.tables import duration, key_values, table
from tests.cli.helpers import REPO, moda


def test_table_aligns_text_left_and_numbers_right() -> None:
    text = table(["NAME", "PARAMS", "ACC"], [["a", "10,415", "99.07%"], ["longer", "7", None]])
    assert text.splitlines() == [
        "NAME    PARAMS     ACC",
        "a       10,415  99.07%",
        "longer       7       -",
    ]
    assert table(["ID", "X"], []) == "ID  X"


def test_key_values_pads_keys() -> None:
    assert key_values([("model", "m1"), ("accuracy", "97.50%")]) == "model     m1\naccuracy  97.50%"


def test_duration() -> None:
    texts = [duration(2.25), duration(75), duration(3725), duration(None)]
    assert texts == ["2.2s", "1m15s", "1h02m05s", "-"]


def test_parse_events_joins_data_lines_and_skips_comments() -> None:
    lines = ["event: progress", 'data: {"a":', "data: 1}", "", ": keep-alive", "", "data: x", ""]
    assert list(parse_events(iter(lines))) == [("progress", '{"a":\n1}'), ("message", "x")]


def _job(status: str, **progress: object) -> dict:
    return {
        "id": "j1",
        "kind": "train",
        "status": status,
        "attempts": 1,
        "progress": progress,
        "result": {},
        "error": None,
    }


def test_follow_job_polls_when_the_event_stream_ends_early() -> None:
    """A stream cut before its `end` event (a proxy, a restart) is not the end of the job."""
    polls = iter([_job("running", stage="modularizing", module=3, modules=10), _job("succeeded")])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            body = f"event: progress\ndata: {json.dumps(_job('running', stage='training'))}\n\n"
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=next(polls))

    with HubClient("http://hub", transport=httpx.MockTransport(handler)) as client:
        seen = [job["status"] for job in follow_job(client, "j1", poll_s=0)]
    assert seen == ["running", "running", "succeeded"]


def test_errors_are_translated_at_the_boundary() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/coded":
            return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "model 'x' not found"}})
        if request.url.path == "/proxy":
            return httpx.Response(502, text="<html><body>Bad   gateway</body></html>")
        raise httpx.ConnectError("refused", request=request)

    with HubClient("http://hub", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ApiError) as coded:
            client.get("/coded")
        assert (str(coded.value), coded.value.exit_code) == ("NOT_FOUND: model 'x' not found", 1)
        with pytest.raises(ApiError, match=r"^HTTP_502: <html><body>Bad gateway</body></html>$"):
            client.get("/proxy")
        with pytest.raises(Unreachable) as unreachable:
            client.get("/refused")
        assert unreachable.value.exit_code == 2
        assert str(unreachable.value) == "cannot reach the MODA Hub at http://hub (is 'moda serve' running?)"


def test_progress_text() -> None:
    training = _job(
        "running",
        stage="training",
        epoch=3,
        epochs=10,
        ce=0.2134,
        affinity=0.35,
        dispersion=0.12,
        compactness=0.0512,
        test_accuracy=96.944,
    )
    assert training_postfix(training["progress"]) == "ce 0.213 aff 0.350 dis 0.120 comp 0.051 acc 96.94%"
    assert describe_progress(training) == "training epoch 3/10, acc 96.94%"
    assert describe_progress(_job("queued")) == "queued"


def test_progress_bar_completes_a_stage_that_moved_on(capsys: pytest.CaptureFixture[str]) -> None:
    """The last epoch's report can be overwritten before a heartbeat carries it: the bar still ends full."""
    bars = JobProgress()
    bars.update(_job("running", stage="training", epoch=4, epochs=5, ce=0.1))
    bars.update(_job("running", stage="modularizing", module=10, modules=10))
    bars.close()
    drawn = capsys.readouterr().err.replace("\r", "\n")
    assert "training epoch 5/5" in drawn and "modularizing module 10/10" in drawn


def test_check_succeeded_names_the_failure() -> None:
    check_succeeded(_job("succeeded"))
    failed = {**_job("failed"), "error": "DATASET_UNAVAILABLE: no files"}
    with pytest.raises(Exception, match=r"^job j1 failed: DATASET_UNAVAILABLE: no files$"):
        check_succeeded(failed)
    with pytest.raises(Exception, match=r"^job j1 was cancelled$"):
        check_succeeded(_job("cancelled"))


def test_help_is_fast_and_imports_no_torch() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); "
        "from service.cli.main import build_parser; parser = build_parser(); parser.parse_args(['jobs']); "
        "print(time.perf_counter() - t, 'torch' in sys.modules, 'fastapi' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, torch, fastapi = out.stdout.split()
    assert (torch, fastapi) == ("False", "False")
    assert float(seconds) < 5.0  # about 0.2 s here


def _command(name: str) -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


_SAID_DEFAULT = re.compile(r"default (-?[0-9][0-9.e-]*|[a-z][a-z0-9-]*)")


@pytest.mark.parametrize("command", ["train", "upload"])
def test_help_states_the_services_defaults(command: str) -> None:
    """Options not given are not sent, so the defaults `--help` states are the service's, and must be
    its job params' (the CLI writes them out: importing them would import torch)."""
    from service.jobs.params import IngestParams, TrainParams

    fields = (TrainParams if command == "train" else IngestParams).model_fields
    checked = []
    for action in _command(command)._actions:
        field = fields.get(action.dest)
        said = _SAID_DEFAULT.search(action.help or "")
        if field is None or field.default is None:
            continue
        if action.default is not None:  # sent as given: the CLI's own default, the same as the service's
            assert action.default == field.default, action.dest
        if said:
            value = said.group(1)
            assert (float(value) if isinstance(field.default, int | float) else value) == field.default, (
                f"--{action.dest.replace('_', '-')} says default {value}, the service's is {field.default}"
            )
            checked.append(action.dest)
    expected = {
        "train": {"dataset", "arch", "epochs", "alpha", "beta", "gamma", "lr", "weight_decay", "seed", "tau"},
        "upload": {"tau"},
    }[command]
    assert set(checked) == expected


def test_accuracy_says_why_it_was_not_measured() -> None:
    assert accuracy_text({"strategy": "prune", "accuracy": 97.5}) == "97.50%"
    assert accuracy_text({"strategy": "prune", "accuracy": None}) == "not measured (the data is not on the server)"
    uncalibrated = accuracy_text({"strategy": "concat", "accuracy": None})  # `--calibration none` across models
    assert "not on the server" not in uncalibrated
    assert uncalibrated.startswith("not measured (uncalibrated compositions of several models are not tested")


# the terminal-fitting CLI -------------------------------------------------------------------------

MODEL_ROW = [
    "6711847a" * 4,
    "fashion-mnist-lenet5",
    12,
    "lenet5",
    10,
    "MODA α1 β1 γ0.3",
    "91.23%",
    "61,706",
    "2026-12-07 02:17:00",
]
MODEL_HEADERS = ["ID", "NAME", "VERSION", "ARCH", "CLASSES", "TRAINING", "ACCURACY", "PARAMS", "CREATED"]


@pytest.mark.parametrize("width", [80, 120])
def test_table_fits_the_width_and_never_breaks_an_id(width: int) -> None:
    text = table(MODEL_HEADERS, [MODEL_ROW, MODEL_ROW], width=width, optional=["CREATED", "CLASSES", "ARCH"])
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, text
    assert sum(line.startswith(MODEL_ROW[0] + " ") for line in lines) == 2, text
    assert "ACCURACY" in lines[0] and "91.23%" in text


def test_table_leaves_out_optional_columns_only_when_it_must() -> None:
    wide = table(MODEL_HEADERS, [MODEL_ROW], width=200, optional=["CREATED"])
    assert wide.splitlines()[0].split() == MODEL_HEADERS
    narrow = table(MODEL_HEADERS, [MODEL_ROW], width=100, optional=["CREATED", "CLASSES", "ARCH"])
    assert "CREATED" not in narrow and "2026-12-07" not in narrow
    assert "NAME" in narrow and "ACCURACY" in narrow


def _snapshots() -> list[dict]:
    training = [
        _job(
            "running",
            stage="training",
            epoch=e,
            epochs=4,
            ce=0.5,
            affinity=0.3,
            dispersion=0.1,
            compactness=0.05,
            test_accuracy=90.0 + e,
        )
        for e in range(1, 4)
    ]
    # Progress fields merge: the decomposing job still carries its last training figures.
    decomposing = [
        _job("running", stage="modularizing", epoch=3, epochs=4, ce=0.5, test_accuracy=93.0, module=m, modules=5)
        for m in range(1, 6)
    ]
    return training + decomposing


def test_redirected_progress_is_plain_lines_with_eta_and_one_stages_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bars = JobProgress()
    for snapshot in _snapshots():
        bars.update(snapshot)
    bars.close(completed=True)
    drawn = capsys.readouterr().err
    assert "\r" not in drawn and "\x1b" not in drawn, "no terminal frames in a redirected log"
    lines = drawn.splitlines()
    assert lines[0].startswith("training epoch 1/4 ") and " eta " in lines[0] and "acc 91.00%" in lines[0]
    assert "training epoch 4/4" in drawn, "a stage that moved on is drawn complete"
    modularizing = [line for line in lines if line.startswith("modularizing")]
    assert [line.split()[2] for line in modularizing] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert not [line for line in modularizing if "ce " in line or "acc" in line], "stale training figures"


def test_terminal_progress_draws_bars_with_eta() -> None:
    from rich.console import Console

    screen = io.StringIO()
    bars = JobProgress(console=Console(file=screen, force_terminal=True, width=80, color_system=None))
    for snapshot in _snapshots():
        bars.update(snapshot)
    bars.close(completed=True)
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).replace("\r", "\n").splitlines()
    final = [line for line in frames if line.strip()][-2:]
    assert final[0].startswith("training epoch 4/4") and "eta" in final[0] and "━" in final[0]
    assert final[1].startswith("modularizing module 5/5") and "ce " not in final[1]
    assert all(len(line) <= 80 for line in frames)


def test_every_option_says_its_default_and_the_service_commands_describe_themselves() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in commands.choices.items():
        assert parser.description and parser.description != parser.format_usage(), name
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or action.required:
                continue  # flags (off unless given) and required options have no default to say
            assert "default" in help_text(action), f"moda {name} {action.option_strings[0]}: {action.help}"
    serve = _command("serve").format_help()
    assert "MODA_API_PROCESSES" in serve
    assert re.search(r"--port PORT\s+TCP port \(env MODA_PORT, default: \d+\)", serve)
    assert re.search(r"--host HOST\s+.*\(env MODA_HOST, default: \S+\)", serve)
    assert "env MODA_URL, default http://127.0.0.1:8000" in _command("models").format_help()


class _ArchiveServer(http.server.BaseHTTPRequestHandler):
    """GET /v1/compositions/c1/export?format=triton answers an archive; anything else a coded 404."""

    def do_GET(self) -> None:
        if self.path == "/v1/compositions/c1/export?format=triton":
            self.send_response(200)
            self.send_header("content-type", "application/gzip")
            self.send_header("content-disposition", 'attachment; filename="../../c1-triton.tar.gz"')
            self.end_headers()
            self.wfile.write(ARCHIVE)
            return
        body = json.dumps({"error": {"code": "NOT_FOUND", "message": "composition 'c2' not found"}}).encode()
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ARCHIVE = bytes(range(256)) * 40


@pytest.fixture
def archive_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ArchiveServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_export_saves_the_archive_under_the_name_the_service_gives(
    archive_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    saved = moda("--url", archive_server, "export", "c1")
    assert saved.code == 0, saved.err
    assert (tmp_path / "c1-triton.tar.gz").read_bytes() == ARCHIVE  # the name only: never a path it chose
    assert f"saved c1-triton.tar.gz ({len(ARCHIVE):,} bytes)" in saved.out

    again = moda("--url", archive_server, "export", "c1")
    assert again.code == 2 and "exists; pass --force" in again.err
    forced = moda("--url", archive_server, "export", "c1", "-o", str(tmp_path / "model.tgz"), "--force", "--json")
    assert forced.code == 0 and json.loads(forced.out)["bytes"] == len(ARCHIVE)
    assert (tmp_path / "model.tgz").read_bytes() == ARCHIVE

    missing = moda("--url", archive_server, "export", "c2")
    assert (missing.code, missing.out) == (1, "")
    assert missing.err.strip() == "error: NOT_FOUND: composition 'c2' not found"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c1-triton.tar.gz", "model.tgz"], "no partial files"


def test_a_listing_that_is_not_on_a_terminal_keeps_one_line_per_row() -> None:
    # stdout is pytest's capture here, not a terminal, and COLUMNS is unset: no width to fit.
    text = table(MODEL_HEADERS, [MODEL_ROW], optional=["CREATED"])
    assert len(text.splitlines()) == 2 and text.splitlines()[1].endswith("2026-12-07 02:17:00")


def test_a_repeated_snapshot_draws_no_new_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Polling (when the event stream is cut) sees the same state many times: one line for it."""
    bars = JobProgress()
    for snapshot in [_snapshots()[0]] * 3 + [_snapshots()[1]]:
        bars.update(snapshot)
    bars.close()
    assert [line.split()[2] for line in capsys.readouterr().err.splitlines()] == ["1/4", "2/4"]
    assert describe_progress(_snapshots()[-1]) == "modularizing module 5/5", "no training figures"


def test_the_status_filter_offers_exactly_the_registry_s_job_statuses() -> None:
    from modules_store import JobStatus
    from service.cli.jobs import STATUSES

    assert tuple(status.value for status in JobStatus) == STATUSES
