"""Modularity benchmark: standard vs MODA training, decomposition, composition, ONNX export.

    python -m benchmarks.modularity --dataset mnist --data-dir ../shared/datasets/mnist \
        --arch mobilenet --epochs 20 --seed 0 --json benchmarks/out/mnist_mobilenet.json

Trains a standard and a MODA model from the same seed (same initial weights, same batches),
decomposes the MODA model at τ, composes every class pair plus random subsets of each size
3..9 without fine-tuning, and writes the metrics as JSON (PATH `-`: stdout). Progress on stderr.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from benchmarks import training_step
from benchmarks.output import write_json
from benchmarks.progress import train_model
from service.moda.compose import KeepPlan, compose, keep_plan, param_count
from service.moda.data import DATASET_NAMES, ImageDataset, load_dataset
from service.moda.decompose import DEFAULT_TAU, ClassMask, activation_rates, class_masks
from service.moda.metrics import count_macs, mean_overlap, module_sizes, restricted_accuracy
from service.moda.nets import ARCHITECTURES, ModularNet
from service.moda.onnx_export import export_onnx
from service.moda.serialization import checkpoint_bytes
from service.moda.training import TrainConfig, default_batch_size, predict_logits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.modularity", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=DATASET_NAMES, default="digits")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="mlp")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tau", type=float, default=DEFAULT_TAU)
    p.add_argument("--batch-size", type=int, default=None, help="default: adapted to the dataset size")
    p.add_argument("--subsets", type=int, default=5, help="random class subsets per size 3..9")
    p.add_argument("--step-rounds", type=int, default=12, help="interleaved standard/MODA step rounds")
    p.add_argument("--json", dest="json_path", default="-", help="output file, - for stdout")
    p.add_argument("--save-dir", type=Path, default=None, help="also save both models (safetensors) here")
    return p.parse_args(argv)


def class_sets(num_classes: int, subsets: int, seed: int) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """All class pairs (45 random ones when there are more) and `subsets` random sets of each size 3..9."""
    rng = random.Random(seed)
    pairs: list[tuple[int, ...]] = list(itertools.combinations(range(num_classes), 2))
    if len(pairs) > 45:
        pairs = sorted(rng.sample(pairs, 45))
    larger = [
        tuple(sorted(rng.sample(range(num_classes), size)))
        for size in range(3, min(9, num_classes - 1) + 1)
        for _ in range(subsets)
    ]
    return pairs, larger


def evaluate_compositions(
    model: ModularNet,
    std_logits: torch.Tensor,
    data: ImageDataset,
    masks: list[ClassMask],
    sets: list[tuple[int, ...]],
    label: str,
) -> tuple[list[dict[str, Any]], float]:
    """Compose each class set, measure it against the standard model restricted the same way."""
    total_params = param_count(model)
    full_macs = count_macs(model, data.x_test[:1])
    rows, max_diff = [], 0.0
    for classes in tqdm(sets, desc=label, unit="set", file=sys.stderr):
        plan: KeepPlan = keep_plan(model, [masks[c] for c in classes])
        composed = compose(model, plan)
        onnx = export_onnx(composed, [data.labels[c] for c in classes], classes)
        max_diff = max(max_diff, onnx.max_abs_diff)
        rows.append(
            {
                "classes": list(classes),
                "composed_acc": restricted_accuracy(predict_logits(composed, data.x_test), data.y_test, classes),
                "std_restricted_acc": restricted_accuracy(std_logits, data.y_test, classes),
                "size": param_count(composed) / total_params,
                "macs_ratio": count_macs(composed, data.x_test[:1]) / full_macs,
            }
        )
    return rows, max_diff


def mean(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.fmean(r[key] for r in rows)


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_dataset(args.dataset, args.data_dir)
    moda_config = TrainConfig(epochs=args.epochs, seed=args.seed, batch_size=args.batch_size)
    std_model, std_run = train_model(data, args.arch, moda_config.standard(), "standard")
    moda_model, moda_run = train_model(data, args.arch, moda_config, "MODA")

    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        for label, model in (("standard", std_model), ("moda", moda_model)):
            (args.save_dir / f"{args.dataset}_{args.arch}_{label}.safetensors").write_bytes(checkpoint_bytes(model))

    rates = activation_rates(moda_model, data.x_train, data.y_train)
    masks = class_masks(rates, args.tau)
    module_plans = [keep_plan(moda_model, [m]) for m in masks]
    sizes = module_sizes(moda_model, module_plans)
    overlap = mean_overlap(moda_model, module_plans)
    std_plans = [
        keep_plan(std_model, [m])
        for m in class_masks(activation_rates(std_model, data.x_train, data.y_train), args.tau)
    ]

    # The full model and every single-class module go through the verified ONNX export too.
    max_diff = export_onnx(moda_model, data.labels, range(data.num_classes)).max_abs_diff
    for plan, mask in zip(module_plans, masks, strict=True):
        module = compose(moda_model, plan)
        max_diff = max(max_diff, export_onnx(module, [data.labels[mask.class_index]], [mask.class_index]).max_abs_diff)

    std_logits = predict_logits(std_model, data.x_test)
    pairs, larger = class_sets(data.num_classes, args.subsets, args.seed)
    pair_rows, d1 = evaluate_compositions(moda_model, std_logits, data, masks, pairs, "pairs")
    set_rows, d2 = evaluate_compositions(moda_model, std_logits, data, masks, larger, "subsets")
    all_rows = pair_rows + set_rows

    std_epoch = statistics.median(h.seconds for h in std_run.history)
    moda_epoch = statistics.median(h.seconds for h in moda_run.history)
    # The honest cost: standard and MODA steps interleaved on one batch (the epochs above ran one
    # kind after the other, so the machine's drift between the halves lands in their ratio).
    batch = args.batch_size or default_batch_size(len(data.x_train))
    steps = training_step.measure(args.arch, data.input_spec, batch, args.step_rounds, warmup=2)
    return {
        "std_acc": std_run.test_acc,
        "moda_acc": moda_run.test_acc,
        "std_epoch_s": std_epoch,
        "moda_epoch_s": moda_epoch,
        "module_size_mean": statistics.fmean(sizes),
        "overlap_mean": overlap.shared,
        "composed_acc_mean": mean(all_rows, "composed_acc"),
        "std_restricted_acc_mean": mean(all_rows, "std_restricted_acc"),
        "composed_size_mean": mean(all_rows, "size"),
        "pairs_composed_acc_mean": mean(pair_rows, "composed_acc"),
        "pairs_composed_size_mean": mean(pair_rows, "size"),
        "onnx_max_abs_diff": max(max_diff, d1, d2),
        "step_ratio": steps["moda_ratio"],
        # extras
        "step_ratio_q1_q3": steps["moda_ratio_q1_q3"],
        "tap_step_ratio": steps["tapped_ratio"],
        "epoch_time_ratio": moda_epoch / std_epoch,
        "overlap_jaccard_mean": overlap.jaccard,
        "std_module_size_mean": statistics.fmean(module_sizes(std_model, std_plans)),
        "module_sizes": sizes,
        "empty_mask_fallbacks": sum(len(m.fallback_layers) for m in masks),
        "composed_macs_ratio_mean": mean(all_rows, "macs_ratio"),
        "model_params": param_count(moda_model),
        "std_epoch_s_all": [h.seconds for h in std_run.history],
        "moda_epoch_s_all": [h.seconds for h in moda_run.history],
        "compositions": all_rows,
        "config": {
            "dataset": args.dataset,
            "arch": args.arch,
            "epochs": args.epochs,
            "seed": args.seed,
            "tau": args.tau,
            "batch_size": args.batch_size,
            "alpha": moda_config.alpha,
            "beta": moda_config.beta,
            "gamma": moda_config.gamma,
            "lr": moda_config.lr,
            "weight_decay": moda_config.weight_decay,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
    }


def summary_table(result: dict[str, Any]) -> str:
    keys = [
        "std_acc",
        "moda_acc",
        "step_ratio",
        "std_epoch_s",
        "moda_epoch_s",
        "epoch_time_ratio",
        "module_size_mean",
        "overlap_mean",
        "overlap_jaccard_mean",
        "composed_acc_mean",
        "std_restricted_acc_mean",
        "composed_size_mean",
        "pairs_composed_acc_mean",
        "pairs_composed_size_mean",
        "composed_macs_ratio_mean",
        "onnx_max_abs_diff",
    ]
    width = max(map(len, keys))
    return "\n".join(f"{k:<{width}}  {result[k]:.4g}" for k in keys)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    print(summary_table(result), file=sys.stderr)
    write_json(result, args.json_path)


if __name__ == "__main__":
    main()
