"""`moda` against one real server: train with live progress, list, compose, predict, demo, errors."""

from __future__ import annotations

import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.cli.helpers import Result, moda, moda_process, popen_moda
from tests.live_server import LiveServer, wait_for

EPOCHS = 6  # enough epochs to see the bar move: a digits MLP trains one in well under 0.1 s
CLASSES = [0, 1, 2]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # One torch thread: on a small shared machine, tiny digits models train several times faster.
    # The event stream looks for news every heartbeat: at LiveServer's 0.5 s it could see the whole
    # training at once, with no epoch in between to draw an ETA for.
    env = {"MODA_API_KEY": None, "MODA_WORKERS": "1", "OMP_NUM_THREADS": "1", "MODA_HEARTBEAT_S": "0.02"}
    with LiveServer(tmp_path_factory.mktemp("cli-hub"), env) as server:
        yield server


@pytest.fixture(scope="module")
def api(hub: LiveServer) -> Iterator[httpx.Client]:
    with hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def trained(hub: LiveServer) -> Result:
    """`moda train --wait` of a small digits MLP, as a person runs it."""
    return moda("--url", hub.url, "train", "--dataset", "digits", "--arch", "mlp", "--epochs", str(EPOCHS), "--wait")


@pytest.fixture(scope="module")
def model(trained: Result, api: httpx.Client) -> dict[str, Any]:
    assert trained.code == 0, trained.err
    return api.get(f"/v1/models/{trained.value('model')}").raise_for_status().json()


@pytest.fixture(scope="module")
def modules(model: dict[str, Any], api: httpx.Client) -> list[dict[str, Any]]:
    page = api.get(f"/v1/models/{model['id']}/modules").raise_for_status().json()
    return sorted(page["items"], key=lambda m: m["class_index"])


@pytest.fixture(scope="module")
def composition(modules: list[dict[str, Any]], api: httpx.Client) -> dict[str, Any]:
    ids = [modules[c]["id"] for c in CLASSES]
    return api.post("/v1/compositions", json={"modules": ids}).raise_for_status().json()


@pytest.fixture(scope="module")
def digits_test() -> tuple[np.ndarray, np.ndarray]:
    from service.moda.data import load_dataset

    data = load_dataset("digits")
    return data.x_test.numpy(), data.y_test.numpy()


def test_train_wait_draws_live_progress_then_names_the_model(trained: Result, api: httpx.Client) -> None:
    assert trained.code == 0, trained.err
    progress = trained.progress
    assert f"training epoch {EPOCHS}/{EPOCHS}" in progress
    assert re.search(r"ce \d+\.\d{3} aff \d+\.\d{3} dis \d+\.\d{3} comp \d+\.\d{3} acc \d+\.\d{2}%", progress)
    assert "modularizing module 10/10" in progress
    decomposing = [line for line in progress.splitlines() if line.startswith("modularizing")]
    assert decomposing and not [line for line in decomposing if " ce " in line], "stale training figures"
    assert re.search(r"^training epoch \d+/\d+ .* eta \d", progress, re.MULTILINE), "no ETA"
    model = api.get(f"/v1/models/{trained.value('model')}").raise_for_status().json()  # a real model id
    assert trained.value("accuracy") == f"{model['metrics']['accuracy']:.2f}%"
    assert trained.value("modules").startswith("10 at τ=0.9")
    job = api.get(f"/v1/jobs/{model['job_id']}").raise_for_status().json()
    assert job["status"] == "succeeded" and job["params"]["epochs"] == EPOCHS


def test_jobs_lists_filters_and_shows_one(hub: LiveServer, model: dict[str, Any]) -> None:
    listed = moda("--url", hub.url, "jobs")
    assert listed.code == 0
    row = next(line for line in listed.out.splitlines() if line.startswith(model["job_id"]))
    assert row.split()[1:3] == ["train", "succeeded"] and row.endswith(f"model {model['id']}")

    assert model["job_id"] not in moda("--url", hub.url, "jobs", "--status", "failed").out
    as_json = moda("jobs", "--status", "succeeded", "--json", "--url", hub.url)  # options after too
    assert model["job_id"] in [job["id"] for job in _json(as_json)["items"]]

    shown = moda("--url", hub.url, "job", model["job_id"])
    assert shown.code == 0
    assert shown.value("status") == "succeeded"
    assert f"model_id={model['id']}" in shown.value("result")
    assert f"epochs={EPOCHS}" in shown.value("params")


def test_models_and_modules_tables(hub: LiveServer, model: dict[str, Any], modules: list[dict[str, Any]]) -> None:
    listed = moda("--url", hub.url, "models")
    assert listed.code == 0
    header, *rows = listed.out.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "VERSION"]
    row = next(r for r in rows if r.startswith(model["id"]))
    assert f"{model['metrics']['accuracy']:.2f}%" in row and "MODA α1 β1 γ0.3" in row

    shown = moda("--url", hub.url, "modules", model["id"])
    assert shown.code == 0
    lines = shown.out.splitlines()
    headers = ["ID", "CLASS", "LABEL", "TAU", "PARAMS", "SIZE", "kB", "OF", "MODEL", "MACS", "FALLBACK"]
    assert lines[0].split() == headers
    for module, line in zip(modules, lines[1:11], strict=True):
        cells = line.split()
        assert cells[:3] == [module["id"], str(module["class_index"]), module["label"]]
        kilobytes = f"{module['params'] * 4 / 1000:,.1f}"  # float32 weights
        assert cells[4:7] == [f"{module['params']:,}", kilobytes, f"{100 * module['size']:.1f}%"]
    assert "SIZE kB: its float32 weights" in shown.out
    mean = sum(m["size"] for m in modules) / len(modules)
    assert shown.value("mean module size") == f"{100 * mean:.1f}% of the model"
    params_end = lines[0].index("PARAMS") + len("PARAMS")  # numbers align right under their header
    for module, line in zip(modules, lines[1:11], strict=True):
        assert line[:params_end].endswith(f" {module['params']:,}")

    as_json = _json(moda("--url", hub.url, "modules", model["id"], "--json"))
    assert [m["id"] for m in as_json] == [m["id"] for m in modules]


def test_compose_by_module_ids_and_by_classes(
    hub: LiveServer, model: dict[str, Any], modules: list[dict[str, Any]], composition: dict[str, Any]
) -> None:
    ids = [modules[c]["id"] for c in CLASSES]
    by_ids = moda("--url", hub.url, "compose", *ids)
    assert by_ids.code == 0, by_ids.err
    assert by_ids.value("composition") == f"{composition['id']} (existing)"
    assert by_ids.value("classes") == "0, 1, 2"
    assert by_ids.value("params") == f"{composition['params']:,}"
    assert by_ids.value("size ratio") == f"{composition['size_ratio']:.3f}"
    assert by_ids.value("MACs").startswith(f"{composition['macs']:,} (")
    assert by_ids.value("accuracy") == f"{composition['accuracy']:.2f}%"

    by_classes = moda("--url", hub.url, "compose", "--model", model["id"], "--classes", "3,5")
    assert by_classes.code == 0, by_classes.err
    assert by_classes.value("classes") == "3, 5"
    assert by_classes.value("composition").endswith("(new)")


def test_predict_png_and_npy_files(
    tmp_path: Path,
    hub: LiveServer,
    api: httpx.Client,
    composition: dict[str, Any],
    digits_test: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = digits_test  # (N, 1, 8, 8) raw pixels 0..16
    one = x[np.flatnonzero(y == 1)[0]]
    Image.fromarray((one[0] / 16 * 255).round().astype(np.uint8), "L").save(tmp_path / "one.png")
    np.save(tmp_path / "two.npy", x[np.flatnonzero(y == 2)[0]][0])  # one sample, (8, 8)
    batch = x[np.isin(y, CLASSES)][:5].reshape(5, 64)  # a batch of flat samples
    np.save(tmp_path / "batch.npy", batch)

    files = [str(tmp_path / name) for name in ("one.png", "two.npy", "batch.npy")]
    shown = moda("--url", hub.url, "predict", composition["id"], *files)
    assert shown.code == 0, shown.err
    header, *rows = shown.out.splitlines()
    assert header.split() == ["INPUT", "LABEL", "PROBABILITY"]
    names = ["one.png", "two.npy"] + [f"batch.npy[{i}]" for i in range(5)]
    assert [r.split()[0] for r in rows] == names

    # The same inputs straight through the API: the table reports exactly what the service answers.
    url = f"/v1/compositions/{composition['id']}/predict"
    png = api.post(url, files=[("files", ("one.png", (tmp_path / "one.png").read_bytes(), "image/png"))])
    arrays = api.post(url, json={"inputs": [x[np.flatnonzero(y == 2)[0]].tolist(), *batch.tolist()]})
    expected = png.raise_for_status().json()["predictions"] + arrays.raise_for_status().json()["predictions"]
    for row, prediction in zip(rows, expected, strict=True):
        _, label, probability = row.split()
        assert label == prediction["label"]
        assert probability == f"{prediction['probabilities'][prediction['label']]:.4f}"
    assert [r.split()[1] for r in rows[:2]] == ["1", "2"]  # and the model is right about them

    as_json = _json(moda("--url", hub.url, "predict", composition["id"], str(tmp_path / "batch.npy"), "--json"))
    assert [p["input"] for p in as_json["predictions"]] == names[2:]


def test_errors_are_readable_with_exit_codes(tmp_path: Path, composition: dict[str, Any], hub: LiveServer) -> None:
    missing = moda("--url", hub.url, "predict", "no-such-composition", str(_npy(tmp_path)))
    assert (missing.code, missing.out) == (1, "")
    assert missing.err.strip() == "error: NOT_FOUND: composition 'no-such-composition' not found"

    wrong_shape = tmp_path / "wrong.npy"
    np.save(wrong_shape, np.zeros((3, 5)))
    refused = moda("--url", hub.url, "predict", composition["id"], str(wrong_shape))
    assert refused.code == 1 and "shape (3, 5)" in refused.err

    bad_params = moda("--url", hub.url, "train", "--epochs", "3", "--lr", "-1")
    assert bad_params.code == 1 and bad_params.err.startswith("error: INVALID_ARGUMENT: ")

    usage = moda("--url", hub.url, "jobs", "--status", "finished")
    assert usage.code == 2 and "invalid choice" in usage.err


def test_exit_codes_of_the_real_command(hub: LiveServer, composition: dict[str, Any]) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    unreachable = moda_process("models", env={"MODA_URL": dead})
    assert unreachable.code == 2
    assert unreachable.err.strip() == f"error: cannot reach the MODA Hub at {dead} (is 'moda serve' running?)"

    unknown = moda_process("--url", hub.url, "compose", "no-such-module")
    assert unknown.code == 1 and unknown.err.startswith("error: NOT_FOUND: ")

    ok = moda_process("--url", hub.url, "job", "no-such-job", "--json")
    assert ok.code == 1 and "NOT_FOUND" in ok.err


def test_train_wait_exits_non_zero_when_the_job_is_cancelled(hub: LiveServer, api: httpx.Client) -> None:
    waiting = popen_moda("--url", hub.url, "train", "--epochs", "500", "--wait")
    try:
        job = wait_for(
            lambda: next(
                (
                    j
                    for j in api.get("/v1/jobs", params={"status": "running"}).json()["items"]
                    if j["params"]["epochs"] == 500 and j["progress"].get("epoch")
                ),
                None,
            ),
            timeout=60,
            what="the training job to run an epoch",
        )
        cancelled = moda("--url", hub.url, "cancel", job["id"])
        assert cancelled.code == 0 and job["id"] in cancelled.out
        _, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 1
    assert "training epoch" in err and f"error: job {job['id']} was cancelled" in err
    assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"

    again = moda("--url", hub.url, "cancel", job["id"])
    assert again.code == 1 and again.err.startswith("error: CONFLICT: ")


def test_demo_trains_composes_and_measures(hub: LiveServer, api: httpx.Client) -> None:
    started = time.monotonic()
    demo = moda("--url", hub.url, "demo")
    seconds = time.monotonic() - started
    assert demo.code == 0, demo.err
    assert seconds < 60, f"the demo took {seconds:.0f}s"
    assert "training epoch 10/10" in demo.progress

    module_rows = [line for line in demo.out.splitlines() if re.match(r"^[0-9a-f]{32}\s+\d\s", line)]
    assert len(module_rows) == 10
    composed = float(re.search(r"^composed accuracy\s+([\d.]+)%", demo.out, re.MULTILINE).group(1))
    assert composed >= 90.0, demo.out
    correct, total = map(int, re.search(r"\((\d+) of (\d+) test images", demo.out).groups())
    assert total == 107 and abs(100 * correct / total - composed) < 0.01  # classes 0, 1, 2 of digits' test

    composition = api.get(f"/v1/compositions/{demo.value('composition')}").raise_for_status().json()
    assert [c["label"] for c in composition["classes"]] == ["0", "1", "2"]
    assert demo.value("composed params") == f"{composition['params']:,}"
    assert demo.value("composed size") == f"{composition['size_ratio']:.3f}"
    assert demo.value("composed MACs").startswith(f"{composition['macs']:,} ")
    model = api.get(f"/v1/models/{composition['classes'][0]['model_id']}").json()
    assert demo.value("model accuracy").startswith(f"{model['metrics']['accuracy']:.2f}%")


# helpers ------------------------------------------------------------------------------------------


def _json(result: Result) -> Any:
    import json

    assert result.code == 0, result.err
    return json.loads(result.out)


def _npy(tmp_path: Path) -> Path:
    path = tmp_path / "sample.npy"
    np.save(path, np.zeros((8, 8)))
    return path


def _closed_port() -> int:
    from tests.live_server import free_port

    return free_port()


def test_upload_then_compose_across_models(
    tmp_path: Path, hub: LiveServer, api: httpx.Client, modules: list[dict[str, Any]]
) -> None:
    import torch

    from service.moda.data import load_dataset
    from service.moda.nets import ArchConfig, build_model

    torch.manual_seed(0)
    net = build_model(ArchConfig("mlp", load_dataset("digits").input_spec, 10))
    torch.save(net.state_dict(), tmp_path / "mlp.pt")
    labels = [str(i) for i in range(10)]  # the dataset's: calibration matches classes by label
    weights = str(tmp_path / "mlp.pt")
    uploaded = moda(
        "--url",
        hub.url,
        "upload",
        weights,
        "--arch",
        "mlp",
        "--dataset",
        "digits",
        "--labels",
        *labels,
        "--name",
        "uploaded-mlp",
        "--wait",
    )
    assert uploaded.code == 0, uploaded.err
    assert uploaded.value("name") == "uploaded-mlp v1"
    model = api.get(f"/v1/models/{uploaded.value('model')}").raise_for_status().json()
    assert model["labels"] == labels and model["arch"] == "mlp"

    refused = moda("--url", hub.url, "upload", weights, "--arch", "lenet5", "--dataset", "digits")
    assert refused.code == 1 and refused.err.startswith("error: INVALID_WEIGHTS: ")

    # Class 0 of the trained model beside class 1 of the uploaded one: a calibrate job (202), followed.
    theirs = moda("--url", hub.url, "modules", model["id"], "--json")
    other = next(m for m in _json(theirs) if m["label"] == "1")
    mixed = moda("--url", hub.url, "compose", modules[0]["id"], other["id"])
    assert mixed.code == 0, mixed.err
    # Outputs are ordered by source model id, then class, whatever the order asked for.
    expected = [label for _, label in sorted([(modules[0]["model_id"], "0"), (model["id"], "1")])]
    assert mixed.value("classes") == ", ".join(expected)
    assert mixed.value("strategy") == "calibrated"
    assert "uploaded-mlp v1" in mixed.value("from models")
    composition_id = mixed.value("composition").split()[0]
    assert api.get(f"/v1/compositions/{composition_id}").status_code == 200

    # Without calibration the service does not test it, though digits is on the server: say so.
    raw = moda("--url", hub.url, "compose", modules[0]["id"], other["id"], "--calibration", "none")
    assert raw.code == 0, raw.err
    assert raw.value("strategy") == "concat"
    assert raw.value("accuracy").startswith("not measured (uncalibrated compositions of several models")


# the commands added with the terminal-fitting CLI ---------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
def test_listings_fit_the_terminal(
    hub: LiveServer, model: dict[str, Any], composition: dict[str, Any], columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    for argv in (["models"], ["modules", model["id"]], ["jobs"], ["compositions"]):
        shown = moda("--url", hub.url, *argv)
        assert shown.code == 0, shown.err
        too_long = [line for line in shown.out.splitlines() if len(line) > columns]
        assert not too_long, f"moda {argv[0]} at {columns} columns:\n" + "\n".join(too_long)
        assert re.search(r"^[0-9a-f]{32}\s", shown.out, re.MULTILINE), "ids are never wrapped"
    listed = moda("--url", hub.url, "compositions")
    row = next(line for line in listed.out.splitlines() if line.startswith(composition["id"]))
    assert "0, 1, 2" in row and f"{composition['params']:,}" in row


def test_modularize_at_another_tau(hub: LiveServer, model: dict[str, Any], api: httpx.Client) -> None:
    done = moda("--url", hub.url, "modularize", model["id"], "--tau", "0.5", "--wait")
    assert done.code == 0, done.err
    assert done.value("model") == model["id"]
    assert "modularizing module 10/10" in done.progress
    assert "ce " not in done.progress, "training figures belong to the training stage only"
    assert "\r" not in done.err, "redirected output gets plain lines"
    at_half = api.get(f"/v1/models/{model['id']}/modules", params={"tau": 0.5}).json()
    assert at_half["total"] == 10


def test_export_saves_a_triton_repository_and_reports_a_missing_composition(
    tmp_path: Path, hub: LiveServer, composition: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = moda("--url", hub.url, "export", "no-such-composition")
    assert missing.code == 1 and missing.err.startswith("error: NOT_FOUND: "), missing.err
    assert not list(tmp_path.iterdir()), "a failed export leaves no file"
    exported = moda("--url", hub.url, "export", composition["id"], "-o", str(tmp_path / "repo.tar.gz"))
    assert exported.code == 0, exported.err
    with tarfile.open(tmp_path / "repo.tar.gz") as archive:
        names = set(archive.getnames())
    cid = composition["id"]
    assert {f"{cid}/config.pbtxt", f"{cid}/labels.txt", f"{cid}/1/model.onnx"} <= names


def test_replace_repairs_a_weak_class_with_a_stronger_module(
    tmp_path: Path, hub: LiveServer, api: httpx.Client, modules: list[dict[str, Any]]
) -> None:
    import torch

    from service.moda.data import load_dataset
    from service.moda.nets import ArchConfig, build_model

    torch.manual_seed(1)
    weak = build_model(ArchConfig("mlp", load_dataset("digits").input_spec, 10))  # untrained: every class is weak
    torch.save(weak.state_dict(), tmp_path / "weak.pt")
    uploaded = moda(
        "--url",
        hub.url,
        "upload",
        str(tmp_path / "weak.pt"),
        "--arch",
        "mlp",
        "--dataset",
        "digits",
        "--labels",
        *[str(i) for i in range(10)],
        "--name",
        "weak-mlp",
        "--wait",
        "-q",
    )
    assert uploaded.code == 0, uploaded.err

    repaired = moda(
        "--url",
        hub.url,
        "replace",
        uploaded.value("model"),
        "--class",
        "1",
        "--module",
        modules[1]["id"],
        "--classes",
        "0,1,2",
        "--wait",
    )
    assert repaired.code == 0, repaired.err
    composition = api.get(f"/v1/compositions/{repaired.value('composition')}").raise_for_status().json()
    assert composition["strategy"] == "replace"
    assert modules[1]["id"] in composition["module_ids"]
    assert repaired.value("classes") == ", ".join(c["label"] for c in composition["classes"])

    refused = moda("--url", hub.url, "replace", uploaded.value("model"), "--class", "1", "--module", "nope")
    assert refused.code == 1 and refused.err.startswith("error: NOT_FOUND: "), refused.err
