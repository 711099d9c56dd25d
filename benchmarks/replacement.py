"""Module replacement benchmark (the paper's RQ2, scaled to this machine).

    python -m benchmarks.replacement --dataset mnist --data-dir ../shared/datasets/mnist \
        --json benchmarks/out/replacement.json

The strong model S is a MODA lenet5 trained on classes 0–4. For each target class c in 0–4, a
weak lenet5 W_c is trained briefly on 10% of the training samples of classes {c, 5, …, 9}. The
combined classifier takes W_c's logits for 5–9 and S's module for c, calibrated on W_c's own
training data with both networks frozen. Per class: test accuracy (argmax over the six classes)
before (W_c alone) and after replacement.
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
from benchmarks.progress import EpochBar
from service.moda.combine import CombinedClassifier, Pick, fit_calibration
from service.moda.compose import compose, keep_plan, param_count
from service.moda.data import DATASET_NAMES, ImageDataset, load_dataset
from service.moda.decompose import DEFAULT_TAU, activation_rates, class_masks
from service.moda.metrics import per_class_accuracy
from service.moda.nets import ArchConfig, ModularNet, build_model
from service.moda.onnx_export import export_onnx
from service.moda.training import TrainConfig, predict_logits, train

STRONG_CLASSES = (0, 1, 2, 3, 4)
WEAK_OTHERS = (5, 6, 7, 8, 9)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replacement", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--arch", default="lenet5")
    p.add_argument("--strong-epochs", type=int, default=10)
    p.add_argument("--weak-epochs", type=int, default=3)
    p.add_argument("--weak-fraction", type=float, default=0.1)
    p.add_argument("--tau", type=float, default=DEFAULT_TAU)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_path", default="-", help="output file, - for stdout")
    return p.parse_args(argv)


def fit(data: ImageDataset, arch: str, config: TrainConfig, label: str) -> ModularNet:
    torch.manual_seed(config.seed)
    model = build_model(ArchConfig(arch, data.input_spec, data.num_classes))
    train(model, data, config, EpochBar(label, config.epochs))
    return model.eval()


def run(args: argparse.Namespace) -> dict[str, Any]:
    full = load_dataset(args.dataset, args.data_dir)
    strong_data = full.restrict(STRONG_CLASSES)
    strong = fit(
        strong_data, args.arch, TrainConfig(epochs=args.strong_epochs, seed=args.seed), "strong (MODA)"
    )
    masks = class_masks(activation_rates(strong, strong_data.x_train, strong_data.y_train), args.tau)

    rows = []
    for c in tqdm(STRONG_CLASSES, desc="targets", unit="class", file=sys.stderr):
        task = full.restrict((c, *WEAK_OTHERS))  # the six classes, renumbered: c is 0, 5..9 are 1..5
        weak_data = task.subset(train_fraction=args.weak_fraction, seed=args.seed)
        weak_config = TrainConfig(epochs=args.weak_epochs, seed=args.seed).standard()
        weak = fit(weak_data, args.arch, weak_config, f"weak (target {c})")
        module = compose(strong, keep_plan(strong, [masks[c]]))  # one logit: class c
        # W's outputs: index 0 is c (sorted), 1..5 are 5..9. The module takes c's place.
        picks = [Pick(1, 0), *(Pick(0, j) for j in range(1, 6))]
        combined = CombinedClassifier([weak, module], picks, weak_data.input_spec)
        # Calibrated on the task's training split (the dataset a replace job is given): W memorised
        # its own 10%, so its logits there are overconfident and would teach the layer to distrust the module.
        calibration = fit_calibration(combined, task.x_train, task.y_train)
        combined.calibration = calibration.layer

        before = per_class_accuracy(predict_logits(weak, weak_data.x_test), weak_data.y_test, 6)
        after = per_class_accuracy(predict_logits(combined, weak_data.x_test), weak_data.y_test, 6)
        onnx = export_onnx(combined, weak_data.labels, [c, *WEAK_OTHERS])
        rows.append({
            "target_class": c,
            "tc_before": before[0],
            "tc_after": after[0],
            "tc_gain": after[0] - before[0],
            "non_tc_before": statistics.fmean(before[1:]),
            "non_tc_after": statistics.fmean(after[1:]),
            "non_tc_change": statistics.fmean(after[1:]) - statistics.fmean(before[1:]),
            "module_size": param_count(module) / param_count(strong),
            "onnx_max_abs_diff": onnx.max_abs_diff,
        })  # fmt: skip
    return {
        "tc_gain_mean": statistics.fmean(r["tc_gain"] for r in rows),
        "non_tc_change_mean": statistics.fmean(r["non_tc_change"] for r in rows),
        "rows": rows,
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json_path"
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    columns = ("class", "tc before", "tc after", "gain", "others before", "others after")
    header = "  ".join(f"{c:>{max(len(c), 5)}}" for c in columns)
    lines = [header] + [
        f"{r['target_class']:>5}  {r['tc_before']:>9.2f}  {r['tc_after']:>8.2f}  {r['tc_gain']:>+5.2f}  "
        f"{r['non_tc_before']:>13.2f}  {r['non_tc_after']:>12.2f}"
        for r in result["rows"]
    ]
    lines.append(
        f"tc_gain_mean {result['tc_gain_mean']:+.2f}  non_tc_change_mean {result['non_tc_change_mean']:+.2f}"
    )
    print("\n".join(lines), file=sys.stderr)
    write_json(result, args.json_path)


if __name__ == "__main__":
    main()
