"""`moda demo`: the whole story against a running service, in well under a minute on digits.

Train a MODA MLP on digits (live progress) -> list its modules -> compose three classes -> classify
the digits test images of those classes with the composition -> one table of what it cost and scored.
Steps and progress go to stderr; the results table goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from service.cli.compose import compose, select_modules
from service.cli.http import HubClient
from service.cli.models import fetch_modules, mean_size, modules_table
from service.cli.options import add_client_command, class_selection, positive_int
from service.cli.progress import check_succeeded, wait_for_job
from service.cli.tables import class_list, count, key_values, pct, percent_of, ratio

DATASET = "digits"
ARCH = "mlp"


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def test_samples(class_indices: list[int]) -> tuple[list[Any], list[int]]:
    """The digits test images of these classes (raw pixels, (1, 8, 8) each) and their true classes."""
    import numpy as np

    from service.moda.data import load_dataset  # torch: only this command pays for it

    data = load_dataset(DATASET)
    x, y = data.x_test.numpy(), data.y_test.numpy()
    keep = np.isin(y, class_indices)
    return x[keep].tolist(), y[keep].tolist()


def predicted_classes(client: HubClient, composition_id: str, samples: list[Any], batch: int) -> list[int]:
    """The source-model class index the composition predicts for each sample (JSON `inputs`)."""
    predicted: list[int] = []
    for i in range(0, len(samples), batch):
        answer = client.post(f"/v1/compositions/{composition_id}/predict", json={"inputs": samples[i : i + batch]})
        predicted.extend(p["class_index"] for p in answer["predictions"])
    return predicted


def results_table(
    model: dict[str, Any],
    modules: list[dict[str, Any]],
    composition: dict[str, Any],
    correct: int,
    total: int,
) -> str:
    labels = class_list(c["label"] for c in composition["classes"])
    model_params = model["metrics"].get("params")
    model_macs = composition["metrics"].get("model_macs") or model["metrics"].get("macs")
    accuracy = 100.0 * correct / total if total else None
    server_accuracy = composition.get("accuracy")
    summary = [
        ("model", f"{model['name']} v{model['version']} ({model['id']})"),
        ("model accuracy", f"{pct(model['metrics'].get('accuracy'))}  (all {len(model['labels'])} classes)"),
        ("model params", count(model_params)),
        ("mean module size", percent_of(mean_size(modules)) + " of the model"),
        ("composition", composition["id"]),
        ("composed classes", labels),
        ("composed params", count(composition["params"])),
        ("composed size", ratio(composition["size_ratio"])),
        ("composed MACs", f"{count(composition['macs'])}  (model {count(model_macs)})"),
        (
            "composed accuracy",
            f"{pct(accuracy)}  ({correct} of {total} test images of classes {labels}; "
            f"the service measured {pct(server_accuracy)})",
        ),
    ]
    return "\n".join(["modules", modules_table(modules), "", key_values(summary)])


def run_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with HubClient.from_args(args) as client:
        params = {"dataset": DATASET, "arch": ARCH, "epochs": args.epochs, "name": "demo-digits-mlp"}
        job = client.post("/v1/jobs", json={"kind": "train", "params": params})
        step(f"training MODA {ARCH} on {DATASET} for {args.epochs} epochs (job {job['id']})")
        job = wait_for_job(client, job, show=not args.quiet)
        check_succeeded(job)
        model = client.get(f"/v1/models/{job['result']['model_id']}")
        modules = fetch_modules(client, model["id"])
        step(f"model {model['id']}: {len(modules)} modules")

        chosen = select_modules(modules, args.classes)
        composition, _ = compose(client, [m["id"] for m in chosen])
        step(f"composed classes {class_list(args.classes)}: composition {composition['id']}")

        samples, truth = test_samples([m["class_index"] for m in chosen])
        step(f"classifying {len(samples)} {DATASET} test images of those classes")
        predicted = predicted_classes(client, composition["id"], samples, args.batch_size)
    correct = sum(int(p == t) for p, t in zip(predicted, truth, strict=True))
    print(results_table(model, modules, composition, correct, len(truth)))
    step(f"done in {time.monotonic() - started:.1f}s")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(
        commands,
        "demo",
        run_demo,
        json_flag=False,
        help="train on digits, compose three classes, measure the composition (needs 'moda serve')",
        description="Against a running service: train a MODA MLP on digits (live progress), list its\n"
        "modules, compose a few classes, classify the digits test images of those classes with the\n"
        "composition, and print the model's and the composition's size, MACs and accuracy.",
    )
    p.add_argument("--epochs", type=positive_int, default=10, help="training epochs (default 10)")
    p.add_argument(
        "--classes", type=class_selection, default=["0", "1", "2"], help="classes to compose (default 0,1,2)"
    )
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per predict request")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
