"""One error root: every coded error is a CodedError, and the ML core's plain errors get the code of
their class where the service meets them."""

from __future__ import annotations

import pytest

from modules_store import CodedError, ErrorCode, NotFound, StorageFull, StoreError
from service.errors import HubError, coded, core_errors_coded
from service.moda.errors import DatasetUnavailable, ExportMismatch, InvalidInput, InvalidWeights


def test_store_and_service_errors_share_one_root() -> None:
    store_error, hub_error = NotFound("no model m1"), HubError(ErrorCode.OVERLOADED, "busy")
    assert isinstance(store_error, CodedError) and isinstance(hub_error, CodedError)
    assert not isinstance(hub_error, StoreError)  # the registry's errors stay the registry's
    assert str(store_error) == "NOT_FOUND: no model m1" and str(hub_error) == "OVERLOADED: busy"
    assert StorageFull("disk").code is ErrorCode.INSUFFICIENT_STORAGE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInput("classes must not be empty"), ErrorCode.INVALID_ARGUMENT),
        (InvalidWeights("the weights contain NaN"), ErrorCode.INVALID_WEIGHTS),
        (DatasetUnavailable("dataset 'mnist': missing train-images-idx3-ubyte"), ErrorCode.DATASET_UNAVAILABLE),
        (ExportMismatch("ONNX export diverges from PyTorch"), ErrorCode.INTERNAL),
    ],
)
def test_core_errors_get_the_code_of_their_class(error: Exception, code: ErrorCode) -> None:
    translated = coded(error)
    assert isinstance(translated, HubError)
    assert (translated.code, translated.message) == (code, str(error))


def test_core_errors_coded_translates_only_the_cores_refusals() -> None:
    with pytest.raises(HubError) as info, core_errors_coded():
        raise InvalidWeights("weights do not fit architecture 'mlp'")
    assert info.value.code is ErrorCode.INVALID_WEIGHTS
    assert isinstance(info.value.__cause__, InvalidWeights)  # the original stays in the traceback
    with pytest.raises(ValueError, match="a bug"), core_errors_coded():
        raise ValueError("a bug, not a refusal")  # any other error is not the caller's to fix
