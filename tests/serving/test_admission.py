"""Admission: a bounded number of inferences in flight, the next refused with OVERLOADED."""

from __future__ import annotations

import pytest

from service.errors import ErrorCode, HubError
from service.serving.admission import Admission


def test_slots_up_to_the_limit_then_overloaded_and_freed_on_exit() -> None:
    admission = Admission(2)
    with admission.slot(), admission.slot():
        assert admission.in_flight == 2
        with pytest.raises(HubError) as refused, admission.slot():
            pass
        assert refused.value.code == ErrorCode.OVERLOADED and "MODA_MAX_INFLIGHT" in refused.value.message
        assert admission.refused == 1 and admission.in_flight == 2  # the refused request held nothing
    assert admission.in_flight == 0
    with admission.slot():
        assert admission.in_flight == 1


def test_a_failing_request_gives_its_slot_back() -> None:
    admission = Admission(1)
    with pytest.raises(ValueError), admission.slot():
        raise ValueError("the inference failed")
    assert admission.in_flight == 0
    with admission.slot():
        pass


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Admission(0)
