"""The CLI's pieces without a server: tables, server-sent events, following a job, error translation."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import httpx
import pytest

from service.cli.compose import accuracy_text
from service.cli.follow import follow_job, parse_events
from service.cli.http import ApiError, HubClient, Unreachable
from service.cli.main import build_parser
from service.cli.progress import JobProgress, check_succeeded, describe_progress, training_postfix
from service.cli.tables import duration, key_values, table
from tests.cli.helpers import REPO


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
    return {"id": "j1", "kind": "train", "status": status, "attempts": 1, "progress": progress,
            "result": {}, "error": None}  # fmt: skip


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
    training = _job("running", stage="training", epoch=3, epochs=10, ce=0.2134, affinity=0.35,
                    dispersion=0.12, compactness=0.0512, test_accuracy=96.944)  # fmt: skip
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
        "from service.cli.main import build_parser; build_parser(); "
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
    expected = {"train": {"dataset", "arch", "epochs", "alpha", "beta", "gamma", "lr", "weight_decay", "seed", "tau"},
                "upload": {"tau"}}[command]  # fmt: skip
    assert set(checked) == expected


def test_accuracy_says_why_it_was_not_measured() -> None:
    assert accuracy_text({"strategy": "prune", "accuracy": 97.5}) == "97.50%"
    assert accuracy_text({"strategy": "prune", "accuracy": None}) == "not measured (the data is not on the server)"
    uncalibrated = accuracy_text({"strategy": "concat", "accuracy": None})  # `--calibration none` across models
    assert "not on the server" not in uncalibrated
    assert uncalibrated.startswith("not measured (uncalibrated compositions of several models are not tested")
