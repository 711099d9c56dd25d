"""`moda compose MODULE_ID...` (or `--model ID --classes 0,1,2`): a smaller classifier of some classes."""

from __future__ import annotations

import argparse
from typing import Any

from service.cli.http import CliError, HubClient
from service.cli.models import fetch_modules
from service.cli.options import add_client_command, class_selection
from service.cli.progress import check_succeeded, wait_for_job
from service.cli.tables import class_list, count, key_values, pct, print_json, ratio


def select_modules(modules: list[dict[str, Any]], classes: list[str]) -> list[dict[str, Any]]:
    """The module of each class, named by label or by class index (labels win when both match)."""
    by_label = {m["label"]: m for m in modules}
    by_index = {str(m["class_index"]): m for m in modules}
    chosen = []
    for token in classes:
        module = by_label.get(token) or by_index.get(token)
        if module is None:
            known = class_list(m["label"] for m in modules)
            raise CliError(f"the model has no module for class {token!r} (its classes: {known})")
        chosen.append(module)
    return chosen


def modules_of_classes(
    client: HubClient, model_id: str, classes: list[str], tau: float | None = None
) -> list[dict[str, Any]]:
    modules = fetch_modules(client, model_id, tau)
    taus = sorted({m["tau"] for m in modules})
    if len(taus) > 1:
        raise CliError(f"the model has modules at several τ ({class_list(taus)}): choose one with --tau")
    return select_modules(modules, classes)


def compose(
    client: HubClient, module_ids: list[str], show_progress: bool = True, **options: str | None
) -> tuple[dict[str, Any], bool]:
    """(composition, created). POST /v1/compositions is idempotent: 201 when it built a new one, 200
    when it existed; modules of several models answer 202 with a `calibrate` job, followed here."""
    body = {"modules": module_ids, **{k: v for k, v in options.items() if v is not None}}
    response = client.request("POST", "/v1/compositions", json=body)
    if response.status_code != 202:
        return response.json(), response.status_code == 201
    job = wait_for_job(client, response.json(), show=show_progress)
    check_succeeded(job)
    return client.get(f"/v1/compositions/{job['result']['composition_id']}"), True


def source_models(client: HubClient, composition: dict[str, Any]) -> list[dict[str, Any]]:
    ids = dict.fromkeys(c["model_id"] for c in composition["classes"])  # in output order, once each
    return [client.get(f"/v1/models/{model_id}") for model_id in ids]


def accuracy_text(composition: dict[str, Any]) -> str:
    """The composition's test accuracy, or why the service did not measure it."""
    if composition.get("accuracy") is not None:
        return pct(composition["accuracy"])
    if composition["strategy"] == "concat":
        # The service stores a `calibration: none` composition of several models
        # without testing it (no data is chosen for it); only a model's test split is ever missing.
        return "not measured (uncalibrated compositions of several models are not tested; calibrate to measure)"
    return "not measured (the data is not on the server)"


def composition_details(composition: dict[str, Any], models: list[dict[str, Any]], created: bool | None = None) -> str:
    classes = composition["classes"]
    macs = count(composition["macs"])
    if len(models) == 1 and models[0]["metrics"].get("macs"):
        model_macs = models[0]["metrics"]["macs"]
        macs += f" ({ratio(composition['macs'] / model_macs)} of the model's {count(model_macs)})"
    pairs: list[tuple[str, object]] = [
        ("composition", composition["id"] + {True: " (new)", False: " (existing)", None: ""}[created]),
        ("classes", class_list(c["label"] for c in classes)),
        (
            "from model" + ("s" if len(models) > 1 else ""),
            ", ".join(f"{m['name']} v{m['version']} ({m['id']})" for m in models),
        ),
        ("strategy", composition["strategy"]),
        ("params", count(composition["params"])),
        ("size ratio", ratio(composition["size_ratio"])),
        ("MACs", macs),
        ("accuracy", accuracy_text(composition)),
    ]
    return key_values(pairs)


def run_compose(args: argparse.Namespace) -> int:
    if bool(args.module_ids) == bool(args.model):
        raise CliError("give MODULE_IDs, or --model with --classes", exit_code=2)
    if args.model and not args.classes:
        raise CliError("--model needs --classes, e.g. --classes 0,1,2", exit_code=2)
    with HubClient.from_args(args) as client:
        if args.model:
            module_ids = [m["id"] for m in modules_of_classes(client, args.model, args.classes, args.tau)]
        else:
            module_ids = args.module_ids
        composition, created = compose(
            client,
            module_ids,
            show_progress=not args.quiet,
            calibration=args.calibration,
            dataset=args.dataset,
            data_dir=args.data_dir,
        )
        models = [] if args.json else source_models(client, composition)
    if args.json:
        print_json(composition)
    else:
        print(composition_details(composition, models, created))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(
        commands,
        "compose",
        run_compose,
        help="compose modules into a classifier of their classes",
        description="Compose modules into one classifier of their classes (idempotent: the same modules\n"
        "give the same composition). Name the modules, or a model and its classes:\n\n"
        "  moda compose 70c4e9... a58700... 9fd410...\n"
        "  moda compose --model 6711847... --classes 0,1,2\n\n"
        "Modules of several models are calibrated on data by a job first (followed with a progress bar).",
    )
    p.add_argument("module_ids", nargs="*", metavar="MODULE_ID", help="module ids")
    p.add_argument(
        "--model",
        metavar="MODEL_ID",
        help="pick the modules of this model by class (default: none, give MODULE_IDs)",
    )
    p.add_argument(
        "--classes",
        type=class_selection,
        help="with --model: class labels or indices, e.g. 0,1,2 (default: none)",
    )
    p.add_argument(
        "--tau",
        type=float,
        help="with --model: the modules decomposed at this τ (default: the only τ it has)",
    )
    p.add_argument(
        "--calibration",
        choices=("auto", "none"),
        help="modules of several models: calibrate their logits with a job (auto, the default) or not",
    )
    p.add_argument("--dataset", help="calibration data (default: the first model's dataset)")
    p.add_argument("--data-dir", help="the calibration dataset's directory on the service (default: <dataset>/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar while calibrating")
