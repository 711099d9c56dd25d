"""submit_job: the same work asked for again while it is under way is the job already doing it."""

from __future__ import annotations

from service.jobs.kinds import parse_params
from service.jobs.submit import params_key


def test_params_key_is_the_parameters_whatever_their_order_or_defaults() -> None:
    first = parse_params("modularize", {"model_id": "m1", "tau": 0.5}).model_dump(mode="json")
    same = parse_params("modularize", {"tau": 0.5, "model_id": "m1", "dataset": None}).model_dump(mode="json")
    other = parse_params("modularize", {"model_id": "m1", "tau": 0.6}).model_dump(mode="json")
    assert params_key("modularize", first) == params_key("modularize", same)
    assert params_key("modularize", first) != params_key("modularize", other)
    assert params_key("modularize", first) != params_key("calibrate", first)
