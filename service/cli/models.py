"""`moda models` and `moda modules MODEL_ID`: what the registry holds."""

from __future__ import annotations

import argparse
from typing import Any

from service.cli.http import HubClient
from service.cli.options import add_client_command, positive_int
from service.cli.tables import count, key_values, kilobytes, pct, percent_of, print_json, table, when


def loss_weights(model: dict[str, Any]) -> str:
    """`MODA α1 β1 γ0.3`, or `standard` when all three are zero."""
    weights = (model["alpha"], model["beta"], model["gamma"])
    if not any(weights):
        return "standard"
    return "MODA " + " ".join(f"{name}{w:g}" for name, w in zip("αβγ", weights, strict=True))


def list_models(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        page = client.get("/v1/models", name=args.name, limit=args.limit)
    if args.json:
        print_json(page)
        return 0
    if not page["items"]:
        print("no models yet: train one with 'moda train --wait' or upload one with 'moda upload'")
        return 0
    rows = [
        [
            m["id"],
            m["name"],
            m["version"],
            m["arch"],
            len(m["labels"]),
            loss_weights(m),
            pct(m["metrics"].get("accuracy")),
            count(m["metrics"].get("params")),
            when(m["created_at"]),
        ]
        for m in page["items"]
    ]
    headers = ["ID", "NAME", "VERSION", "ARCH", "CLASSES", "TRAINING", "ACCURACY", "PARAMS", "CREATED"]
    print(table(headers, rows, optional=["CREATED", "CLASSES", "ARCH", "PARAMS"], unbroken=["ID", "TRAINING"]))
    if page["total"] > len(page["items"]):
        print(f"({len(page['items'])} of {page['total']}; see more with --limit)")
    return 0


def fetch_modules(client: HubClient, model_id: str, tau: float | None = None) -> list[dict[str, Any]]:
    """Every module of a model (all pages), in class order."""
    modules: list[dict[str, Any]] = []
    while True:
        page = client.get(f"/v1/models/{model_id}/modules", tau=tau, offset=len(modules), limit=1000)
        modules.extend(page["items"])
        if not page["items"] or len(modules) >= page["total"]:
            return sorted(modules, key=lambda m: (m["class_index"], m["tau"]))


MODULE_HEADERS = ["ID", "CLASS", "LABEL", "TAU", "PARAMS", "SIZE kB", "OF MODEL", "MACS", "FALLBACK"]
MODULE_FOOTNOTE = "SIZE kB: its float32 weights; OF MODEL: its share of the model's parameters"


def modules_table(modules: list[dict[str, Any]]) -> str:
    rows = [
        [
            m["id"],
            m["class_index"],
            m["label"],
            f"{m['tau']:g}",
            count(m["params"]),
            kilobytes(m["params"]),
            percent_of(m["size"]),
            count(m["metrics"].get("macs")),
            "yes" if m["empty_mask_fallback"] else "",
        ]
        for m in modules
    ]
    return table(MODULE_HEADERS, rows, optional=["FALLBACK", "TAU", "MACS"]) + "\n" + MODULE_FOOTNOTE


def mean_size(modules: list[dict[str, Any]]) -> float | None:
    return sum(m["size"] for m in modules) / len(modules) if modules else None


def list_modules(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        model = client.get(f"/v1/models/{args.model_id}")
        modules = fetch_modules(client, model["id"], args.tau)
    if args.json:
        print_json(modules)
        return 0
    if not modules:
        print(f"model {model['id']} has no modules" + (f" at τ={args.tau:g}" if args.tau else ""))
        return 0
    print(modules_table(modules))
    print()
    print(
        key_values(
            [
                ("model", f"{model['name']} v{model['version']} ({model['id']})"),
                ("params", count(model["metrics"].get("params"))),
                ("mean module size", percent_of(mean_size(modules)) + " of the model"),
            ]
        )
    )
    if any(m["empty_mask_fallback"] for m in modules):
        print("FALLBACK: a layer's mask was empty at this τ and kept its most active neuron")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = add_client_command(commands, "models", list_models, help="list registered models")
    p.add_argument("--name", help="only versions of this model name (default: every model)")
    p.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50)")

    p = add_client_command(commands, "modules", list_modules, help="list a model's modules (one per class): size, MACs")
    p.add_argument("model_id", metavar="MODEL_ID")
    p.add_argument("--tau", type=float, help="only modules decomposed at this τ (default: every τ)")
