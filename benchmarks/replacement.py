"""Module replacement benchmark (the paper's RQ2, scaled to this machine).

    python -m benchmarks.replacement --dataset mnist --data-dir ../shared/datasets/mnist \
        --json benchmarks/out/replacement.json

The strong model S is a MODA model (default lenet5; the paper uses vgg16/resnet18) trained on
classes 0–4. For each target class c in 0–4, a weak lenet5 W_c is trained briefly on 10% of the
training samples of classes {c, 5, …, 9}. The combined classifier takes W_c's logits for 5–9 and
S's module for c, calibrated on the task's training split with both networks frozen. Per class:
test accuracy (argmax over the six classes) before (W_c alone) and after replacement, and — to
tell what the module brings from what recalibration alone brings — after the same calibration
fitted on W_c's own six logits. Every seed repeats the whole setup; means are over seeds × classes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from benchmarks.output import write_json
from benchmarks.progress import train_model
from service.moda.combine import CombinedClassifier, Pick, fit_calibration
from service.moda.compose import compose, keep_plan, param_count
from service.moda.data import DATASET_NAMES, ImageDataset, load_dataset
from service.moda.decompose import DEFAULT_TAU, activation_rates, class_masks
from service.moda.metrics import per_class_accuracy
from service.moda.nets import ARCHITECTURES, ModularNet
from service.moda.onnx_export import export_onnx
from service.moda.training import TrainConfig, predict_logits

STRONG_CLASSES = (0, 1, 2, 3, 4)
WEAK_OTHERS = (5, 6, 7, 8, 9)
TASK_SIZE = 1 + len(WEAK_OTHERS)  # the weak model's classes: c (index 0) and 5..9 (1..5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replacement", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--strong-arch", choices=ARCHITECTURES, default="lenet5")
    p.add_argument("--weak-arch", choices=ARCHITECTURES, default="lenet5")
    p.add_argument("--strong-epochs", type=int, default=10)
    p.add_argument("--weak-epochs", type=int, default=3)
    p.add_argument("--weak-fraction", type=float, default=0.1)
    p.add_argument("--tau", type=float, default=DEFAULT_TAU)
    p.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="comma-separated, e.g. 0,1,2")
    p.add_argument("--json", dest="json_path", default="-", help="output file, - for stdout")
    return p.parse_args(argv)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct (a repeated seed repeats the same run), got {text!r}")
    return seeds


def calibrated(combined: CombinedClassifier, data: ImageDataset) -> CombinedClassifier:
    combined.calibration = fit_calibration(combined, data.x_train, data.y_train).layer
    return combined


def replacement_row(
    args: argparse.Namespace, full: ImageDataset, strong: ModularNet, module: ModularNet, c: int, seed: int
) -> dict[str, Any]:
    task = full.restrict((c, *WEAK_OTHERS))  # the six classes, renumbered: c is 0, 5..9 are 1..5
    weak_data = task.subset(train_fraction=args.weak_fraction, seed=seed)
    weak_config = TrainConfig(epochs=args.weak_epochs, seed=seed).standard()
    weak, _ = train_model(weak_data, args.weak_arch, weak_config, f"weak (target {c}, seed {seed})")
    # Calibrated on the task's training split (the dataset a replace job is given): W memorised
    # its own 10%, so its logits there are overconfident and would teach the layer to distrust the module.
    own_outputs = [Pick(0, j) for j in range(TASK_SIZE)]
    recalibrated = calibrated(CombinedClassifier([weak], own_outputs, task.input_spec), task)
    replaced = calibrated(CombinedClassifier([weak, module], [Pick(1, 0), *own_outputs[1:]], task.input_spec), task)

    def accuracy_of(logits: torch.Tensor) -> list[float]:
        return per_class_accuracy(logits, task.y_test, TASK_SIZE)

    weak_logits = predict_logits(weak, task.x_test)  # (N, 6)
    before = accuracy_of(weak_logits)
    after, recal = (accuracy_of(predict_logits(net, task.x_test)) for net in (replaced, recalibrated))
    non_tc_before, non_tc_after = statistics.fmean(before[1:]), statistics.fmean(after[1:])
    # How well each network alone tells c (index 0) from 5..9 on the test split: the module can
    # only help where it separates them better than the weak model's own margin for c does.
    is_c = task.y_test == 0
    weak_margin = weak_logits[:, 0] - weak_logits[:, 1:].max(dim=1).values  # (N,)
    module_logit = predict_logits(module, task.x_test)[:, 0]  # (N,)
    onnx = export_onnx(replaced, task.labels, [c, *WEAK_OTHERS])
    return {
        "seed": seed,
        "target_class": c,
        "tc_before": before[0],
        "tc_after": after[0],
        "tc_gain": after[0] - before[0],
        "tc_recalibrated_only": recal[0],
        "weak_auc": auc(weak_margin[is_c], weak_margin[~is_c]),
        "module_auc": auc(module_logit[is_c], module_logit[~is_c]),
        "non_tc_before": non_tc_before,
        "non_tc_after": non_tc_after,
        "non_tc_change": non_tc_after - non_tc_before,
        "module_size": param_count(module) / param_count(strong),
        "onnx_max_abs_diff": onnx.max_abs_diff,
    }


def auc(positives: torch.Tensor, negatives: torch.Tensor) -> float:
    """P(a random positive scores above a random negative), ties counting half: ROC AUC."""
    above = (positives[:, None] > negatives[None, :]).float().mean()
    tied = (positives[:, None] == negatives[None, :]).float().mean()
    return (above + tied / 2).item()


def run(args: argparse.Namespace) -> dict[str, Any]:
    full = load_dataset(args.dataset, args.data_dir)
    strong_data = full.restrict(STRONG_CLASSES)
    rows = []
    for seed in args.seeds:
        strong_config = TrainConfig(epochs=args.strong_epochs, seed=seed)
        strong, _ = train_model(strong_data, args.strong_arch, strong_config, f"strong (MODA, seed {seed})")
        masks = class_masks(activation_rates(strong, strong_data.x_train, strong_data.y_train), args.tau)
        for c in tqdm(STRONG_CLASSES, desc=f"targets (seed {seed})", unit="class", file=sys.stderr):
            module = compose(strong, keep_plan(strong, [masks[c]]))  # one logit: class c
            rows.append(replacement_row(args, full, strong, module, c, seed))

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    def seed_means(key: str) -> list[float]:
        return [statistics.fmean(r[key] for r in rows if r["seed"] == s) for s in args.seeds]

    return {
        "tc_gain_mean": mean("tc_gain"),
        "non_tc_change_mean": mean("non_tc_change"),
        "tc_gain_by_seed": seed_means("tc_gain"),
        "non_tc_change_by_seed": seed_means("non_tc_change"),
        # What the module adds over recalibrating W alone on the same data.
        "tc_gain_over_recalibration_mean": mean("tc_after") - mean("tc_recalibrated_only"),
        "weak_auc_mean": mean("weak_auc"),
        "module_auc_mean": mean("module_auc"),
        "rows": rows,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json_path"},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    columns = ("seed", "class", "tc before", "tc after", "gain", "recal only", "others before", "others after")
    lines = ["  ".join(f"{c:>{max(len(c), 5)}}" for c in columns)] + [
        f"{r['seed']:>5}  {r['target_class']:>5}  {r['tc_before']:>9.2f}  {r['tc_after']:>8.2f}  "
        f"{r['tc_gain']:>+5.2f}  {r['tc_recalibrated_only']:>10.2f}  {r['non_tc_before']:>13.2f}  "
        f"{r['non_tc_after']:>12.2f}"
        for r in result["rows"]
    ]
    lines.append(
        f"tc_gain_mean {result['tc_gain_mean']:+.2f}  non_tc_change_mean {result['non_tc_change_mean']:+.2f}  "
        f"over recalibration alone {result['tc_gain_over_recalibration_mean']:+.2f}"
    )
    print("\n".join(lines), file=sys.stderr)
    write_json(result, args.json_path)


if __name__ == "__main__":
    main()
