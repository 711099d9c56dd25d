"""`moda train`, `moda upload` and `moda modularize`: jobs that end in a registered, modularized model.

Both submit a job and, with --wait, follow it with a live progress bar, then summarise the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from service.cli.http import CliError, HubClient
from service.cli.models import fetch_modules, loss_weights, mean_size
from service.cli.options import add_client_command, class_indices, positive_int
from service.cli.progress import check_succeeded, wait_for_job
from service.cli.tables import count, duration, key_values, pct, percent_of, print_json, seconds_between

# argparse dest -> train job param; only the options given are sent (the service has the defaults)
TRAIN_OPTIONS = (
    "alpha",
    "beta",
    "gamma",
    "lr",
    "weight_decay",
    "batch_size",
    "seed",
    "tau",
    "name",
    "data_dir",
    "classes",
)


def model_summary(client: HubClient, job: dict[str, Any]) -> str:
    model = client.get(f"/v1/models/{job['result']['model_id']}")
    modules = fetch_modules(client, model["id"])
    taus = ", ".join(f"{t:g}" for t in sorted({m["tau"] for m in modules}))
    ran = seconds_between(job.get("started_at"), job.get("finished_at"))
    params = count(model["metrics"].get("params"))
    pairs: list[tuple[str, object]] = [
        ("model", model["id"]),
        ("name", f"{model['name']} v{model['version']}"),
        ("architecture", f"{model['arch']}, {len(model['labels'])} classes, {params} params"),
        ("training", loss_weights(model)),
        ("accuracy", pct(model["metrics"].get("accuracy"))),
        ("modules", f"{len(modules)} at τ={taus}, mean size {percent_of(mean_size(modules))} of the model"),
        ("job", f"{job['id']} ({job['kind']}, {duration(ran)})"),
    ]
    return key_values(pairs) + f"\n\nnext: moda modules {model['id']}"


def finish(client: HubClient, job: dict[str, Any], args: argparse.Namespace) -> int:
    """After submitting: print the job, or (--wait) follow it and print the model it made."""
    if not args.wait:
        if args.json:
            print_json(job)
        else:
            print(f"job {job['id']} {job['status']} ({job['kind']})")
            print(f"follow it with: moda job {job['id']}   (or submit with --wait)")
        return 0
    job = wait_for_job(client, job, show=not args.quiet)
    if args.json:
        print_json(job)
    check_succeeded(job)
    if not args.json:
        print(model_summary(client, job))
    return 0


def train_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"dataset": args.dataset, "arch": args.arch, "epochs": args.epochs}
    params.update({k: getattr(args, k) for k in TRAIN_OPTIONS if getattr(args, k) is not None})
    if args.standard:
        params.update(alpha=0.0, beta=0.0, gamma=0.0)
    return params


def run_train(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        job = client.post("/v1/jobs", json={"kind": "train", "params": train_params(args)})
        return finish(client, job, args)


def run_upload(args: argparse.Namespace) -> int:
    path = Path(args.weights)
    try:
        weights = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}", exit_code=2) from error
    form: dict[str, str] = {"arch": args.arch, "dataset": args.dataset}
    if args.labels:
        form["labels"] = args.labels[0] if len(args.labels) == 1 else json.dumps(args.labels)
    for key in ("name", "data_dir"):
        if getattr(args, key):
            form[key] = getattr(args, key)
    if args.tau is not None:
        form["tau"] = str(args.tau)
    with HubClient.from_args(args) as client:
        job = client.post("/v1/models", data=form, files={"file": (path.name, weights)})
        return finish(client, job, args)


def run_modularize(args: argparse.Namespace) -> int:
    params = {"model_id": args.model_id, "tau": args.tau, "dataset": args.dataset, "data_dir": args.data_dir}
    with HubClient.from_args(args) as client:
        body = {"kind": "modularize", "params": {k: v for k, v in params.items() if v is not None}}
        return finish(client, client.post("/v1/jobs", json=body), args)


def _add_wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true", help="follow the job with a progress bar until it ends")
    p.add_argument("-q", "--quiet", action="store_true", help="with --wait: no progress bar")


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(
        commands,
        "train",
        run_train,
        help="train a MODA (or standard) model and split it into modules",
        description="Submit a train job: train a model with the MODA loss, register it, and decompose it\n"
        "into one module per class. Options not given take the service's defaults.\n\n"
        "  moda train --dataset digits --arch mlp --epochs 10 --wait",
    )
    # The defaults said below are the service's (service/jobs/params.py), written out because importing
    # them would import torch into every `moda` command; tests/cli/test_units.py checks they agree.
    p.add_argument(
        "--dataset", default="digits", help="digits | mnist | fashion-mnist | cifar10 | ... (default digits)"
    )
    p.add_argument("--arch", default="mlp", help="mlp | lenet5 | vgg16 | resnet18 | mobilenet (default mlp)")
    p.add_argument("--epochs", type=positive_int, default=10, help="default 10")
    p.add_argument("--alpha", type=float, help="affinity weight α (default 1.0)")
    p.add_argument("--beta", type=float, help="dispersion weight β (default 1.0)")
    p.add_argument("--gamma", type=float, help="compactness weight γ (default 0.3)")
    p.add_argument("--standard", action="store_true", help="standard training: α = β = γ = 0")
    p.add_argument("--lr", type=float, help="learning rate (default 0.05)")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay (default 0: none, as in the paper)")
    p.add_argument("--batch-size", type=positive_int, help="default adapts to the dataset size")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--tau", type=float, help="module threshold τ (default 0.9)")
    p.add_argument("--name", help="model name (default <dataset>-<arch>)")
    p.add_argument(
        "--data-dir",
        help="the dataset's directory, relative to the service's MODA_DATASETS_DIR (default: <dataset>/)",
    )
    p.add_argument("--classes", type=class_indices, help="train on these classes only, e.g. 0,1,2 (default: all)")
    _add_wait_options(p)

    p = add_client_command(
        commands,
        "upload",
        run_upload,
        help="upload weights trained elsewhere; the service registers and modularizes them",
        description="Upload a trained model (.safetensors or a PyTorch state_dict .pt) of a known\n"
        "architecture; an ingest job registers it and decomposes it into modules.\n\n"
        "  moda upload mlp.safetensors --arch mlp --dataset digits --wait",
    )
    p.add_argument("weights", metavar="WEIGHTS", help=".safetensors or .pt file")
    p.add_argument("--arch", required=True, help="mlp | lenet5 | vgg16 | resnet18 | mobilenet")
    p.add_argument("--dataset", required=True, help="the data the model takes (modules are decomposed on it)")
    p.add_argument("--labels", nargs="+", help="class labels: 'a,b,c' or a b c (default: the dataset's)")
    p.add_argument("--name", help="model name (default: <dataset>-<arch>)")
    p.add_argument("--tau", type=float, help="module threshold τ (default 0.9)")
    p.add_argument(
        "--data-dir",
        help="the dataset's directory, relative to the service's MODA_DATASETS_DIR (default: <dataset>/)",
    )
    _add_wait_options(p)

    p = add_client_command(
        commands,
        "modularize",
        run_modularize,
        help="split a model into modules again, at another threshold τ",
        description="Submit a modularize job: decompose a registered model into one module per class at\n"
        "the threshold τ given (its modules at other τ stay).\n\n"
        "  moda modularize 6711847... --tau 0.5 --wait",
    )
    p.add_argument("model_id", metavar="MODEL_ID")
    p.add_argument("--tau", type=float, help="module threshold τ (default 0.9)")
    p.add_argument("--dataset", help="decompose over this dataset (default: the model's own)")
    p.add_argument(
        "--data-dir",
        help="the dataset's directory, relative to the service's MODA_DATASETS_DIR (default: <dataset>/)",
    )
    _add_wait_options(p)
