"""Standard V2 clients work unchanged: tritonclient.http's own request bytes in, its decoder on ours out."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import ErrorCode, HubError
from service.serving.sessions import SessionCache
from service.serving.v2 import HEADER_LENGTH, compute_outputs, encode_infer_response, parse_infer_request
from tests.serving.helpers import DIGITS, ArtifactDir, linear_onnx, pixels, reference_logits

httpclient = pytest.importorskip("tritonclient.http")


def serve(
    body: bytes, json_size: int | None, cache: SessionCache, sha: str, labels: list[str] | None = None
) -> tuple[bytes, dict[str, str]]:
    """What the V2 infer endpoint does between reading the body and writing the response."""
    request = parse_infer_request(body, json_size)
    logits = cache.run(sha, request.batch(DIGITS, max_batch=16))
    outputs = compute_outputs(logits, request.outputs, request.classifications, labels or ())
    return encode_infer_response("composition", "1", request.id, outputs, request.binary_outputs, labels)


def decode(body: bytes, headers: dict[str, str]) -> httpclient.InferResult:
    length = headers.get(HEADER_LENGTH)
    return httpclient.InferResult.from_response_body(
        body, verbose=False, header_length=None if length is None else int(length)
    )


@pytest.mark.parametrize("binary_input", [True, False])
@pytest.mark.parametrize(
    "binary_outputs",
    [
        None,
        {"logits": True, "probabilities": True},
        {"logits": False, "probabilities": False},
        {"logits": True},
    ],
    ids=["default", "all-binary", "all-json", "logits-binary-only"],
)
def test_tritonclient_round_trip(
    artifacts: ArtifactDir, binary_input: bool, binary_outputs: dict[str, bool] | None
) -> None:
    data, weight, bias = linear_onnx(DIGITS, 3)
    sha = artifacts.put(data)
    cache = SessionCache(artifacts.open_path, capacity=1)
    x = pixels(5, DIGITS)

    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary_input)
    requested = (
        None
        if binary_outputs is None
        else [httpclient.InferRequestedOutput(name, binary_data=b) for name, b in binary_outputs.items()]
    )
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [tensor], outputs=requested, request_id="req-42"
    )
    assert (json_size is not None) == binary_input  # the client really used the extension (or not)

    response_body, headers = serve(body, json_size, cache, sha)
    result = decode(response_body, headers)

    assert result.get_response()["id"] == "req-42"
    assert result.get_response()["model_name"] == "composition"
    expected = reference_logits(x, weight, bias)
    logits = result.as_numpy("logits")
    assert logits is not None and logits.dtype == np.float32 and logits.shape == (5, 3)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    probabilities = result.as_numpy("probabilities")
    if binary_outputs is None or "probabilities" in binary_outputs:
        assert probabilities is not None and probabilities.shape == (5, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
        assert (probabilities.argmax(axis=1) == expected.argmax(axis=1)).all()
    else:
        assert probabilities is None
    wants_binary = binary_outputs is None or any(binary_outputs.values())
    assert headers["Content-Type"] == ("application/octet-stream" if wants_binary else "application/json")


@pytest.mark.parametrize(("datatype", "dtype"), [("UINT8", np.uint8), ("FP64", np.float64)])
def test_tritonclient_inputs_of_another_datatype_are_refused_as_triton_does(
    artifacts: ArtifactDir, datatype: str, dtype: type
) -> None:
    sha = artifacts.put(linear_onnx(DIGITS, 3)[0])
    tensor = httpclient.InferInput("input", [2, 1, 8, 8], datatype)
    tensor.set_data_from_numpy(np.arange(128, dtype=dtype).reshape(2, 1, 8, 8) % 17, binary_data=True)
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor])
    with pytest.raises(HubError) as info:
        serve(body, json_size, SessionCache(artifacts.open_path, capacity=1), sha)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert f"datatype {datatype!r}, but this model expects 'FP32'" in info.value.message


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_class_count(artifacts: ArtifactDir, binary: bool) -> None:
    data, weight, bias = linear_onnx(DIGITS, 3)
    sha = artifacts.put(data)
    x = pixels(4, DIGITS)
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    requested = [httpclient.InferRequestedOutput("probabilities", binary_data=binary, class_count=2)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor], outputs=requested)
    labels = ["zero", "one", "two"]
    result = decode(*serve(body, json_size, SessionCache(artifacts.open_path, capacity=1), sha, labels))

    top = result.as_numpy("probabilities")
    assert top is not None and top.shape == (4, 2)
    expected = reference_logits(x, weight, bias)
    for row, logits in zip(top, expected, strict=True):
        parsed = [(b if isinstance(b, str) else b.decode()).split(":") for b in row]
        ranked = np.argsort(-logits)[:2]
        assert [int(index) for _, index, _ in parsed] == ranked.tolist()
        assert [label for _, _, label in parsed] == [labels[k] for k in ranked]
        assert float(parsed[0][0]) >= float(parsed[1][0])
