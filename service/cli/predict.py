"""`moda predict COMPOSITION_ID FILE...`: classify images (PNG/JPEG/...) and `.npy` arrays.

Images go as multipart `files` (the service resizes them to the model's input); a `.npy` holds one
raw-pixel sample or a batch of them and goes as JSON `inputs`. Either way one row per sample.
"""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path
from typing import Any

from service.cli.http import CliError, HubClient
from service.cli.options import add_client_command, positive_int
from service.cli.tables import print_json, table


def sample_shapes(input_spec: dict[str, Any]) -> set[tuple[int, ...]]:
    """The layouts the service accepts for one sample: (C, H, W), flat (C·H·W,), and (H, W) if C = 1."""
    c, h, w = input_spec["channels"], input_spec["height"], input_spec["width"]
    return {(c, h, w), (c * h * w,)} | ({(h, w)} if c == 1 else set())


def read_npy(path: Path, input_spec: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(name, sample) for each sample in the file: `x.npy` for one sample, `x.npy[i]` for a batch."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read {path} as a .npy array: {error}") from error
    shapes = sample_shapes(input_spec)
    if array.shape in shapes:
        return [(path.name, array.tolist())]
    if array.ndim >= 2 and array.shape[1:] in shapes:
        return [(f"{path.name}[{i}]", sample.tolist()) for i, sample in enumerate(array)]
    accepted = " or ".join(str(s) for s in sorted(shapes, key=len, reverse=True))
    raise CliError(
        f"{path} holds an array of shape {array.shape}; the model takes one sample shaped {accepted}, "
        "or a batch (N, ...) of them"
    )


def read_image(path: Path) -> tuple[str, tuple[str, bytes, str]]:
    """A multipart `files` entry for the image at `path`."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.name, (path.name, path.read_bytes(), mime)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def predict_files(client: HubClient, composition_id: str, paths: list[Path], batch_size: int) -> list[dict[str, Any]]:
    """One prediction per sample, in the order of `paths` (and of the samples in each .npy)."""
    for path in paths:
        if not path.is_file():
            raise CliError(f"no such file: {path}", exit_code=2)
    composition = client.get(f"/v1/compositions/{composition_id}")  # its input shape reads the .npy files
    url = f"/v1/compositions/{composition['id']}/predict"
    arrays: list[tuple[int, str, list[Any]]] = []  # (order, name, sample)
    images: list[tuple[int, str, tuple[str, bytes, str]]] = []
    order = 0
    for path in paths:
        if path.suffix.lower() == ".npy":
            for name, sample in read_npy(path, composition["input_spec"]):
                arrays.append((order, name, sample))
                order += 1
        else:
            name, entry = read_image(path)
            images.append((order, name, entry))
            order += 1
    results: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(arrays, batch_size):
        answer = client.post(url, json={"inputs": [sample for _, _, sample in chunk]})
        for (i, name, _), prediction in zip(chunk, answer["predictions"], strict=True):
            results[i] = {"input": name, **prediction}
    for chunk in _chunks(images, batch_size):
        answer = client.post(url, files=[("files", entry) for _, _, entry in chunk])
        for (i, name, _), prediction in zip(chunk, answer["predictions"], strict=True):
            results[i] = {"input": name, **prediction}
    return [results[i] for i in range(order)]


def predictions_table(predictions: list[dict[str, Any]]) -> str:
    rows = [[p["input"], p["label"], f"{p['probabilities'][p['label']]:.4f}"] for p in predictions]
    return table(["INPUT", "LABEL", "PROBABILITY"], rows)


def run_predict(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        paths = [Path(f) for f in args.files]
        predictions = predict_files(client, args.composition_id, paths, args.batch_size)
    if args.json:
        print_json({"composition_id": args.composition_id, "predictions": predictions})
    else:
        print(predictions_table(predictions))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(
        commands,
        "predict",
        run_predict,
        help="classify image files and .npy arrays with a composition",
        description="Classify images (png, jpg, ...; resized by the service) and .npy arrays of raw pixels\n"
        "on the dataset's scale (one sample, or a batch N x sample) with a composition.",
    )
    p.add_argument("composition_id", metavar="COMPOSITION_ID")
    p.add_argument("files", nargs="+", metavar="FILE", help="images, or .npy arrays")
    p.add_argument("--batch-size", type=positive_int, default=256, help="samples per request (default 256)")
