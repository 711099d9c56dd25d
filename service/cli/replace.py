"""`moda replace MODEL_ID --class C --module MODULE_ID`: repair a weak class with a stronger model's module."""

from __future__ import annotations

import argparse

from service.cli.compose import composition_details, source_models
from service.cli.http import HubClient
from service.cli.options import add_client_command, class_indices
from service.cli.progress import check_succeeded, wait_for_job
from service.cli.tables import print_json


def run_replace(args: argparse.Namespace) -> int:
    params = {
        "model_id": args.model_id,
        "target_class": args.target_class,
        "module_id": args.module_id,
        "classes": args.classes,
        "dataset": args.dataset,
        "data_dir": args.data_dir,
    }
    with HubClient.from_args(args) as client:
        body = {"kind": "replace", "params": {k: v for k, v in params.items() if v is not None}}
        job = client.post("/v1/jobs", json=body)
        if not args.wait:
            if args.json:
                print_json(job)
            else:
                print(f"job {job['id']} {job['status']} (replace)\nfollow it with: moda job {job['id']}")
            return 0
        job = wait_for_job(client, job, show=not args.quiet)
        check_succeeded(job)
        composition = client.get(f"/v1/compositions/{job['result']['composition_id']}")
        models = [] if args.json else source_models(client, composition)
    if args.json:
        print_json(composition)
    else:
        print(composition_details(composition, models))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(
        commands,
        "replace",
        run_replace,
        help="repair a weak model's class with the module of a stronger model",
        description="Submit a replace job: the weak model's logits for its other classes beside the\n"
        "stronger model's module for one class, calibrated on data, stored as a composition.\n\n"
        "  moda replace WEAK_MODEL_ID --class 3 --module STRONG_MODULE_ID --wait",
    )
    p.add_argument("model_id", metavar="MODEL_ID", help="the weak model")
    p.add_argument(
        "--class",
        dest="target_class",
        type=int,
        required=True,
        metavar="INDEX",
        help="the weak class, as the weak model's class index",
    )
    p.add_argument(
        "--module",
        dest="module_id",
        required=True,
        metavar="MODULE_ID",
        help="a module of that class from a stronger model with the same input",
    )
    p.add_argument("--classes", type=class_indices, help="weak-model classes to keep, e.g. 0,1,3 (default: all)")
    p.add_argument("--dataset", help="calibration data (default: the weak model's dataset)")
    p.add_argument(
        "--data-dir",
        help="the dataset's directory, relative to the service's MODA_DATASETS_DIR (default: <dataset>/)",
    )
    p.add_argument("--wait", action="store_true", help="follow the job with a progress bar until it ends")
    p.add_argument("-q", "--quiet", action="store_true", help="with --wait: no progress bar")
