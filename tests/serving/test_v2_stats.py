"""Per-model statistics in Triton's shape: exact counts under concurrency, durations summed."""

from __future__ import annotations

import threading

from service.serving.v2_models import ModelStatistics
from service.serving.v2_stats import InferenceStatistics, ModelStats


def test_a_report_has_tritons_fields_and_sums() -> None:
    stats = ModelStats()
    stats.record_success(4, 10, 100, 1)
    stats.record_success(4, 20, 200, 2)
    stats.record_success(1, 5, 50, 5)
    stats.record_failure(7)
    report = stats.report("m", "1")
    ModelStatistics.model_validate(report)  # what OpenAPI documents

    assert (report["name"], report["version"]) == ("m", "1")
    assert report["inference_count"] == 9 and report["execution_count"] == 3
    assert report["last_inference"] > 1_700_000_000_000  # milliseconds since the epoch
    inference = report["inference_stats"]
    assert inference["success"] == {"count": 3, "ns": 393}
    assert inference["fail"] == {"count": 1, "ns": 7}
    assert inference["compute_input"] == {"count": 3, "ns": 35}
    assert inference["compute_infer"] == {"count": 3, "ns": 350}
    assert inference["compute_output"] == {"count": 3, "ns": 8}
    assert inference["queue"] == {"count": 3, "ns": 0}
    assert report["batch_stats"] == [
        {
            "batch_size": 1,
            "compute_input": {"count": 1, "ns": 5},
            "compute_infer": {"count": 1, "ns": 50},
            "compute_output": {"count": 1, "ns": 5},
        },
        {
            "batch_size": 4,
            "compute_input": {"count": 2, "ns": 30},
            "compute_infer": {"count": 2, "ns": 300},
            "compute_output": {"count": 2, "ns": 3},
        },
    ]


def test_no_count_is_lost_when_threads_record_at_once() -> None:
    statistics = InferenceStatistics()
    per_thread, threads = 2000, 8

    def work() -> None:
        for _ in range(per_thread):
            statistics.of("m").record_success(2, 1, 1, 1)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report = statistics.report("m", "1")
    assert report["execution_count"] == per_thread * threads
    assert report["inference_count"] == 2 * per_thread * threads
    assert report["inference_stats"]["success"] == {"count": per_thread * threads, "ns": 3 * per_thread * threads}


def test_a_model_without_inferences_reports_zeros_and_is_not_listed() -> None:
    statistics = InferenceStatistics()
    report = statistics.report("quiet", "1")
    assert report["execution_count"] == 0 and report["inference_stats"]["success"] == {"count": 0, "ns": 0}
    assert statistics.names() == []
    statistics.of("busy").record_success(1, 1, 1, 1)
    assert statistics.names() == ["busy"]
