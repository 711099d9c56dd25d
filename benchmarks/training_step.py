"""What MODA costs per training step, measured without drift: plain, tapped and MODA steps interleaved.

    python -m benchmarks.training_step --json benchmarks/results/training_step.json

For each architecture and input (1×28×28 and 3×32×32, batch 128, 10 classes), every round runs one
step of each kind on the same batch and the same weights (SGD at lr 0, so nothing moves), in an
order that rotates from round to round:

    plain   forward, cross-entropy, backward, SGD step        standard training
    tapped  the same through the activation tap               what reading the activations costs
    moda    tapped plus the three MODA terms                  a MODA training step

Ratios are taken within a round (tapped ÷ plain, moda ÷ plain), so the machine's drift between
rounds cancels; the JSON gives their median and spread over rounds, and the median step times.
A case runs at least --rounds rounds, and more while they fit in --budget-s (small networks).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F
from tqdm import tqdm

from benchmarks.output import write_json
from service.moda.nets import ARCHITECTURES, ArchConfig, ModularNet, build_model
from service.moda.spec import InputSpec
from service.moda.training import TrainConfig, objective

INPUTS = {
    "28x28": InputSpec(1, 28, 28, mean=(33.3,), std=(78.6,), pixel_max=255.0),
    "32x32": InputSpec(3, 32, 32, mean=(125.0,) * 3, std=(63.0,) * 3, pixel_max=255.0),
}
KINDS = ("plain", "tapped", "moda")


def step_functions(model: ModularNet, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable[[], None]]:
    """The three kinds of step on one batch; each runs forward, backward and the optimizer."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, nesterov=True)
    moda, plain = TrainConfig(), TrainConfig().standard()

    def run(loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss().backward()
            optimizer.step()

        return step

    def tapped_loss() -> torch.Tensor:
        logits, _ = model.forward_with_activations(x)
        return F.cross_entropy(logits, y)

    return {
        "plain": run(lambda: objective(model, x, y, plain)[1][0]),
        "tapped": run(tapped_loss),
        "moda": run(lambda: objective(model, x, y, moda)[1][0]),
    }


def measure(arch: str, spec: InputSpec, batch: int, rounds: int, warmup: int, budget_s: float = 0.0) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(ArchConfig(arch, spec, 10)).train()
    x = torch.rand(batch, *spec.shape) * spec.pixel_max  # (B, C, H, W) raw pixels
    y = torch.arange(batch) % 10
    steps = step_functions(model, x, y)
    started = time.perf_counter()
    for _ in range(warmup):
        for step in steps.values():
            step()
    round_s = (time.perf_counter() - started) / warmup
    # Small networks' steps are milliseconds, and a few rounds of them are mostly noise: they get
    # as many rounds as the budget holds (a multiple of 3, so each kind goes first equally often).
    rounds = max(rounds, 3 * int(budget_s / round_s / 3))
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for r in range(rounds):
        order = KINDS[r % 3 :] + KINDS[: r % 3]  # each kind goes first in a third of the rounds
        for kind in order:
            started = time.perf_counter()
            steps[kind]()
            times[kind].append(time.perf_counter() - started)
    result: dict[str, Any] = {"rounds": rounds}
    result |= {f"{kind}_ms": 1e3 * statistics.median(times[kind]) for kind in KINDS}
    for kind in ("tapped", "moda"):
        ratios = sorted(t / p for t, p in zip(times[kind], times["plain"], strict=True))
        result[f"{kind}_ratio"] = statistics.median(ratios)
        result[f"{kind}_ratio_q1_q3"] = [ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default=",".join(ARCHITECTURES), help="comma-separated")
    parser.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated: 28x28, 32x32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=12, help="at least this many rounds per case")
    parser.add_argument("--budget-s", type=float, default=30.0, help="more rounds while they fit this per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (at least 1: they size the budget)")
    parser.add_argument("--json", default="-")
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error("--warmup must be at least 1")

    cases = [(arch, name) for arch in args.archs.split(",") for name in args.inputs.split(",")]
    result: dict[str, Any] = {"batch": args.batch, "threads": torch.get_num_threads()}
    for arch, name in tqdm(cases, desc="architectures", unit="case", file=sys.stderr):
        result[f"{arch}/{name}"] = measure(arch, INPUTS[name], args.batch, args.rounds, args.warmup, args.budget_s)
    write_json(result, args.json)
    print(f"{'case':<20}{'rounds':>7}{'plain ms':>10}{'tapped':>9}{'moda':>9}{'moda q1-q3':>14}", file=sys.stderr)
    for case, row in result.items():
        if isinstance(row, dict):
            q1, q3 = row["moda_ratio_q1_q3"]
            print(
                f"{case:<20}{row['rounds']:>7}{row['plain_ms']:>10.1f}{row['tapped_ratio']:>9.3f}{row['moda_ratio']:>9.3f}"
                f"{f'{q1:.3f}-{q3:.3f}':>14}",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
