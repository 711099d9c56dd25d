"""The benchmarks run as a user runs them and write the JSON their README promises."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks import modularity, replacement, serving, training_step
from tests.live_server import free_port

MODULARITY_KEYS = {
    "std_acc",
    "moda_acc",
    "std_epoch_s",
    "moda_epoch_s",
    "module_size_mean",
    "overlap_mean",
    "composed_acc_mean",
    "std_restricted_acc_mean",
    "composed_size_mean",
    "pairs_composed_acc_mean",
    "pairs_composed_size_mean",
    "onnx_max_abs_diff",
    "step_ratio",
}


def test_modularity_benchmark_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    modularity.main(
        [
            "--dataset",
            "digits",
            "--arch",
            "mlp",
            "--epochs",
            "3",
            "--subsets",
            "1",
            "--step-rounds",
            "3",
            "--json",
            str(out),
            "--save-dir",
            str(tmp_path / "models"),
        ]
    )
    result = json.loads(out.read_text())
    assert result.keys() >= MODULARITY_KEYS
    assert all(isinstance(result[k], float) and math.isfinite(result[k]) for k in MODULARITY_KEYS)
    assert len(result["compositions"]) == 45 + 7  # every pair, one subset of each size 3..9
    assert 0 < result["module_size_mean"] < result["composed_size_mean"] < 1
    assert result["onnx_max_abs_diff"] <= 1e-4
    assert result["moda_acc"] > 80 and result["std_acc"] > 80
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "digits_mlp_moda.safetensors",
        "digits_mlp_standard.safetensors",
    ]


def test_replacement_benchmark_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    replacement.main(
        [
            "--dataset",
            "digits",
            "--strong-epochs",
            "2",
            "--weak-epochs",
            "1",
            "--weak-fraction",
            "0.3",
            "--seeds",
            "0,1",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert {"tc_gain_mean", "non_tc_change_mean", "tc_gain_over_recalibration_mean", "rows"} <= result.keys()
    rows = result["rows"]
    assert [(r["seed"], r["target_class"]) for r in rows] == [(s, c) for s in (0, 1) for c in range(5)]
    for row in rows:
        assert row["tc_gain"] == row["tc_after"] - row["tc_before"]
        assert 0 <= row["tc_recalibrated_only"] <= 100
        assert 0.5 < row["weak_auc"] <= 1 and 0.5 < row["module_auc"] <= 1  # both better than chance
        assert row["onnx_max_abs_diff"] <= 1e-4
    for s, seed_mean in enumerate(result["tc_gain_by_seed"]):
        assert math.isclose(seed_mean, sum(r["tc_gain"] for r in rows if r["seed"] == s) / 5)
    assert math.isclose(result["tc_gain_mean"], sum(result["tc_gain_by_seed"]) / 2)
    over_recalibration = sum(r["tc_after"] - r["tc_recalibrated_only"] for r in rows) / len(rows)
    assert math.isclose(result["tc_gain_over_recalibration_mean"], over_recalibration, abs_tol=1e-9)


def test_auc_is_the_probability_a_positive_outranks_a_negative() -> None:
    assert replacement.auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert replacement.auc(torch.tensor([0.0]), torch.tensor([1.0, 2.0])) == 0.0
    assert replacement.auc(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 2.0])) == 0.625  # (0.5 + 0 + 1 + 1) / 4


@pytest.mark.parametrize("seeds", ["0,x", "0,0", ""])
def test_replacement_benchmark_rejects_malformed_seeds(seeds: str) -> None:
    with pytest.raises(SystemExit):
        replacement.parse_args(["--seeds", seeds])


def test_serving_benchmark_measures_every_composition_against_bare_onnxruntime(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    serving.main(
        [
            "--dataset",
            "digits",
            "--home",
            str(tmp_path / "home"),
            "--port",
            str(free_port()),
            "--mobilenet-epochs",
            "1",
            "--lenet-epochs",
            "1",
            "--rounds",
            "1",
            "--seconds",
            "0.05",
            "--concurrency-s",
            "1",
            "--flood-s",
            "1",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    for arch in ("mobilenet", "lenet5"):
        compositions = result[arch]["compositions"]
        assert set(compositions) == {"2-class", "3-class", "10-class"}
        for c in compositions.values():
            assert c["max_abs_prob_diff"] <= 1e-5  # the server's probabilities are bare ORT's
            assert 0 < c["mac_ratio"] <= c["served_mac_ratio"] <= 1
            assert c["speedup_b64"] > 0 and c["v1_json_b64_ratio"] > 0 and c["v2_binary_b64_ratio"] > 0
            assert math.isfinite(c["v1_json_b1_overhead_ms"]) and math.isfinite(c["v2_binary_b1_overhead_ms"])
        concurrent = result[arch]["concurrent_16"]
        assert concurrent["errors"] == 0 and concurrent["img_s"] > 0 and concurrent["server_cpu_ms_per_request"] > 0
    flood = result["flood_200"]
    assert flood["errors"] == 0 and flood["requests_ok"] > 0
    assert flood["rss_after_mb"] > 0 and flood["rss_before_mb"] > 0


def test_training_step_benchmark_interleaves_every_kind(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    training_step.main(
        [
            "--archs",
            "mlp,lenet5",
            "--inputs",
            "28x28",
            "--batch",
            "16",
            "--rounds",
            "3",
            "--warmup",
            "1",
            "--budget-s",
            "0",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    for case in ("mlp/28x28", "lenet5/28x28"):
        row = result[case]
        assert row["rounds"] == 3
        assert row["plain_ms"] > 0 and row["tapped_ms"] > 0 and row["moda_ms"] > 0
        q1, q3 = row["moda_ratio_q1_q3"]
        assert 0 < q1 <= row["moda_ratio"] <= q3
