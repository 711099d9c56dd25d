"""The V2 codec at the byte level, from the protocol text: JSON and binary requests and responses."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from service.errors import ErrorCode, HubError
from service.serving.predictions import softmax
from service.serving.sessions import SessionCache
from service.serving.v2 import (
    HEADER_LENGTH,
    classify,
    compute_outputs,
    encode_infer_response,
    model_metadata,
    parse_header_length,
    parse_infer_request,
)
from service.serving.v2_models import InferResponseBody, ModelMetadata
from tests.serving.helpers import DIGITS, ArtifactDir, linear_onnx, pixels, reference_logits


def binary_body(header: dict[str, Any], *chunks: bytes) -> tuple[bytes, int]:
    text = json.dumps(header).encode()
    return text + b"".join(chunks), len(text)


def split_response(body: bytes, headers: dict[str, str]) -> tuple[dict[str, Any], bytes]:
    length = int(headers[HEADER_LENGTH]) if HEADER_LENGTH in headers else len(body)
    return json.loads(body[:length]), body[length:]


def test_a_json_request_is_parsed() -> None:
    x = pixels(2, DIGITS)
    body = {
        "id": "req-1",
        "inputs": [{"name": "input", "shape": [2, 1, 8, 8], "datatype": "FP32", "data": x.tolist()}],
        "future_extension": {"ignored": True},
    }
    request = parse_infer_request(json.dumps(body).encode(), None)
    assert request.id == "req-1"
    assert (request.shape, request.datatype) == ((2, 1, 8, 8), "FP32")
    assert request.outputs == ("logits", "probabilities") and request.binary_outputs == frozenset()
    np.testing.assert_array_equal(request.batch(DIGITS, max_batch=2), x)


def test_a_binary_request_is_parsed() -> None:
    x = pixels(3, DIGITS)
    header = {
        "inputs": [
            {
                "name": "input",
                "shape": [3, 64],
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes},
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}, {"name": "logits"}],
    }
    body, length = binary_body(header, x.astype("<f4").tobytes())
    request = parse_infer_request(body, length)
    assert request.id is None
    assert request.data == x.tobytes()
    assert request.outputs == ("probabilities", "logits")
    assert request.binary_outputs == frozenset({"probabilities"})
    np.testing.assert_array_equal(request.batch(DIGITS, max_batch=3), x)


@pytest.mark.parametrize(
    ("parameters", "outputs", "names", "binary"),
    [
        (None, None, ("logits", "probabilities"), set()),
        ({"binary_data_output": True}, None, ("logits", "probabilities"), {"logits", "probabilities"}),
        ({"binary_data_output": True}, [{"name": "logits"}], ("logits",), {"logits"}),
        (
            {"binary_data_output": True},
            [{"name": "logits", "parameters": {"binary_data": False}}, {"name": "probabilities"}],
            ("logits", "probabilities"),
            {"probabilities"},
        ),
        (
            None,
            [{"name": "probabilities", "parameters": {"binary_data": True}}],
            ("probabilities",),
            {"probabilities"},
        ),
        (None, [], ("logits", "probabilities"), set()),
    ],
)
def test_output_selection_and_binary_flags(
    parameters: dict[str, Any] | None, outputs: list[Any] | None, names: tuple[str, ...], binary: set[str]
) -> None:
    body: dict[str, Any] = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}]}
    if parameters is not None:
        body["parameters"] = parameters
    if outputs is not None:
        body["outputs"] = outputs
    request = parse_infer_request(json.dumps(body).encode(), None)
    assert request.outputs == names and request.binary_outputs == binary


def test_json_response() -> None:
    logits = np.array([[1.0, 2.0, 3.0], [0.5, 0.25, 0.0]], dtype=np.float32)
    outputs = compute_outputs(logits, ["logits", "probabilities"])
    body, headers = encode_infer_response("comp-1", "1", "req-9", outputs, set())

    assert headers == {"Content-Type": "application/json"}
    document = json.loads(body)
    InferResponseBody.model_validate(document)
    assert (document["model_name"], document["model_version"], document["id"]) == ("comp-1", "1", "req-9")
    first, second = document["outputs"]
    assert first == {"name": "logits", "datatype": "FP32", "shape": [2, 3], "data": logits.ravel().tolist()}
    assert (second["name"], second["shape"]) == ("probabilities", [2, 3])
    np.testing.assert_allclose(np.reshape(second["data"], (2, 3)).sum(axis=1), 1.0, rtol=1e-6)


def test_binary_response_puts_bytes_after_the_header_in_output_order() -> None:
    logits = np.array([[1.0, -2.0], [0.0, 4.0]], dtype=np.float32)
    ids = np.array([7, 9], dtype=np.int64)
    body, headers = encode_infer_response("m", "2", None, {"logits": logits, "ids": ids, "p": logits}, {"ids", "p"})

    assert headers["Content-Type"] == "application/octet-stream"
    document, tail = split_response(body, headers)
    assert "id" not in document
    logits_out, ids_out, p_out = document["outputs"]
    assert logits_out["data"] == [1.0, -2.0, 0.0, 4.0] and "parameters" not in logits_out
    assert ids_out == {
        "name": "ids",
        "datatype": "INT64",
        "shape": [2],
        "parameters": {"binary_data_size": 16},
    }
    assert p_out["parameters"] == {"binary_data_size": 16} and "data" not in p_out
    assert tail == ids.astype("<i8").tobytes() + logits.astype("<f4").tobytes()


def test_the_whole_path_from_request_bytes_to_response_bytes(artifacts: ArtifactDir) -> None:
    data, weight, bias = linear_onnx(DIGITS, 3)
    cache = SessionCache(artifacts.open_path, capacity=1)
    sha = artifacts.put(data)
    x = pixels(4, DIGITS)
    header = {
        "id": "e2e",
        "inputs": [
            {
                "name": "input",
                "shape": [4, 1, 8, 8],
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    request = parse_infer_request(*binary_body(header, x.tobytes()))
    logits = cache.run(sha, request.batch(DIGITS, max_batch=8))
    body, headers = encode_infer_response(
        "comp", "1", request.id, compute_outputs(logits, request.outputs), request.binary_outputs
    )

    document, tail = split_response(body, headers)
    assert document["id"] == "e2e"
    got_logits = np.frombuffer(tail[:48], dtype="<f4").reshape(4, 3)
    got_probabilities = np.frombuffer(tail[48:], dtype="<f4").reshape(4, 3)
    np.testing.assert_allclose(got_logits, reference_logits(x, weight, bias), rtol=1e-5, atol=1e-5)
    assert (got_probabilities.argmax(axis=1) == got_logits.argmax(axis=1)).all()
    np.testing.assert_allclose(got_probabilities.sum(axis=1), 1.0, rtol=1e-6)


def _request(**changes: Any) -> dict[str, Any]:
    tensor = {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1.0] * 64}
    body: dict[str, Any] = {"inputs": [tensor]}
    for key, value in changes.items():
        if key.startswith("input_"):
            tensor[key.removeprefix("input_")] = value
        else:
            body[key] = value
    return body


def _json(body: dict[str, Any]) -> tuple[bytes, None]:
    return json.dumps(body).encode(), None


BINARY_TENSOR = {
    "name": "input",
    "shape": [1, 64],
    "datatype": "FP32",
    "parameters": {"binary_data_size": 256},
}
PARSE_ERRORS = [
    pytest.param((b'{"inputs": [', None), ["not valid JSON: EOF while parsing"], id="truncated-json"),
    pytest.param(
        (binary_body({"inputs": [BINARY_TENSOR]}, bytes(256))[0], None),
        ["not valid JSON", f"needs the {HEADER_LENGTH} header"],
        id="binary-without-header-length",
    ),
    pytest.param((b"[1, 2]", None), ["invalid inference request: Input should be an object"], id="not-an-object"),
    pytest.param((b"\xff\xfe", None), ["not valid JSON"], id="not-utf8"),
    pytest.param((b'{"inputs": []}', 99), [f"{HEADER_LENGTH} is 99 but the body has 14 bytes"], id="length-beyond"),
    pytest.param((b'{"inputs": []}', -1), [f"{HEADER_LENGTH} is -1"], id="negative-length"),
    pytest.param(_json({"inputs": []}), ["at inputs", "at least 1"], id="no-inputs"),
    pytest.param(_json({"id": "x"}), ["at inputs", "required"], id="missing-inputs"),
    pytest.param(_json(_request(id=7)), ["at id"], id="numeric-id"),
    pytest.param(_json(_request(input_shape=[1, 64.0])), ["at inputs.0.shape.1"], id="float-dim"),
    pytest.param(_json(_request(input_shape=[1, -64])), ["at inputs.0.shape.1", "greater than or equal"], id="neg-dim"),
    pytest.param(_json(_request(input_name="pixels")), ["unknown input 'pixels'", "one input, 'input'"], id="name"),
    pytest.param(
        _json({"inputs": [_request()["inputs"][0]] * 2}),
        ["input 'input' is given 2 times"],
        id="duplicate-input",
    ),
    pytest.param(_json(_request(input_data=None)), ["neither 'data' nor parameters.binary_data_size"], id="no-data"),
    pytest.param(
        binary_body({"inputs": [{**BINARY_TENSOR, "data": [1.0] * 64}]}, bytes(256)),
        ["both 'data' and binary_data_size"],
        id="data-and-binary",
    ),
    pytest.param(
        binary_body({"inputs": [BINARY_TENSOR]}, bytes(300)),
        ["300 bytes after the", "add up to 256"],
        id="trailing-bytes",
    ),
    pytest.param(
        binary_body({"inputs": [{**BINARY_TENSOR, "parameters": {"binary_data_size": "256"}}]}, bytes(256)),
        ["binary_data_size must be a non-negative integer"],
        id="size-string",
    ),
    pytest.param(_json(_request()), [], id="valid-control"),
    pytest.param(
        (json.dumps({"inputs": [BINARY_TENSOR]}).encode(), None),
        ["has binary_data_size but the request has no", HEADER_LENGTH],
        id="binary-size-no-header",
    ),
    pytest.param(
        _json(_request(input_parameters={"shared_memory_region": "r"})),
        ["shared memory is not supported"],
        id="shm",
    ),
    pytest.param(_json(_request(outputs=[{"name": "scores"}])), ["unknown output 'scores'", "'logits'"], id="output"),
    pytest.param(_json(_request(outputs=[{"name": "logits"}] * 2)), ["'logits' is requested twice"], id="dup-output"),
    pytest.param(
        _json(_request(outputs=[{"name": "logits", "parameters": {"binary_data": "yes"}}])),
        ["'binary_data' must be true or false"],
        id="binary-flag",
    ),
    pytest.param(
        _json(_request(parameters={"binary_data_output": 1})),
        ["request parameter 'binary_data_output' must be true or false"],
        id="request-flag",
    ),
    pytest.param(
        _json(_request(outputs=[{"name": "probabilities", "parameters": {"classification": 0}}])),
        ["'classification' must be a positive integer, got 0"],
        id="classification-zero",
    ),
    pytest.param(
        _json(_request(outputs=[{"name": "logits", "parameters": {"classification": True}}])),
        ["'classification' must be a positive integer, got True"],
        id="classification-bool",
    ),
    pytest.param(
        _json(_request(input_parameters={"classification": 2})),
        ["classification is a parameter of a requested output"],
        id="classification-on-input",
    ),
    # Triton refuses an input whose datatype is not its config's; converting would hide client bugs.
    pytest.param(_json(_request(input_datatype="FP64")), ["datatype 'FP64'", "expects 'FP32'"], id="fp64"),
    pytest.param(_json(_request(input_datatype="UINT8")), ["datatype 'UINT8'", "expects 'FP32'"], id="uint8"),
    pytest.param(_json(_request(input_datatype="BYTES")), ["datatype 'BYTES'", "expects 'FP32'"], id="bytes"),
]


@pytest.mark.parametrize(("args", "fragments"), PARSE_ERRORS)
def test_parse_errors(args: tuple[bytes, int | None], fragments: list[str]) -> None:
    if not fragments:  # the control case: the same builder, unchanged, parses
        assert parse_infer_request(*args).shape == (1, 64)
        return
    with pytest.raises(HubError) as info:
        parse_infer_request(*args)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    for fragment in fragments:
        assert fragment in info.value.message


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"input_shape": [2, 64]}, "data has 64 elements; shape [2, 64] needs 128"),
        ({"input_data": [-1.0] * 64}, "raw pixels on the 0..16 scale"),
    ],
)
def test_tensor_errors_surface_when_the_batch_is_decoded(changes: dict[str, Any], fragment: str) -> None:
    request = parse_infer_request(*_json(_request(**changes)))
    with pytest.raises(HubError) as info:
        request.batch(DIGITS, max_batch=4)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT and fragment in info.value.message


def test_binary_byte_count_must_match_the_shape() -> None:
    tensor = {**BINARY_TENSOR, "shape": [2, 64]}  # declares 256 bytes, shape needs 512
    request = parse_infer_request(*binary_body({"inputs": [tensor]}, bytes(256)))
    with pytest.raises(HubError, match="needs 128 x 4 = 512 bytes"):
        request.batch(DIGITS, max_batch=4)


def test_header_length_header_parsing() -> None:
    assert parse_header_length(None) is None
    assert parse_header_length("123") == 123
    with pytest.raises(HubError) as info:
        parse_header_length("12a")
    assert info.value.code is ErrorCode.INVALID_ARGUMENT and "'12a'" in info.value.message


def test_non_finite_outputs_cannot_be_sent_as_json_but_can_as_bytes() -> None:
    logits = np.array([[np.nan, 1.0]], dtype=np.float32)
    with pytest.raises(HubError) as info:
        encode_infer_response("m", "1", None, {"logits": logits}, set())
    assert info.value.code is ErrorCode.INTERNAL
    body, headers = encode_infer_response("m", "1", None, {"logits": logits}, {"logits"})
    assert np.isnan(np.frombuffer(split_response(body, headers)[1], dtype="<f4")[0])


def test_binary_outputs_must_be_outputs() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        encode_infer_response("m", "1", None, {"logits": np.zeros((1, 2), np.float32)}, {"probabilities"})


def test_model_metadata() -> None:
    metadata = model_metadata("comp-abc", "1", DIGITS, ["cat", "dog", "7"])
    ModelMetadata.model_validate(metadata)
    labels = {"labels": ["cat", "dog", "7"]}
    assert metadata == {
        "name": "comp-abc",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],
        "outputs": [
            {"name": "logits", "datatype": "FP32", "shape": [-1, 3], "parameters": labels},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3], "parameters": labels},
        ],
        "parameters": labels,
    }


def test_classification_is_tritons_score_index_label_strings() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]], dtype=np.float32)
    top = classify(scores, 2, ["cat", "dog", "7"])
    assert top.shape == (2, 2) and top.dtype == np.object_
    # C's %f (Triton's std::to_string): six decimals; equal scores keep their output order.
    assert top.tolist() == [["0.700000:1:dog", "0.200000:2:7"], ["0.500000:0:cat", "0.250000:1:dog"]]
    assert classify(scores, 99, ["cat", "dog", "7"]).shape == (2, 3)  # at most K classes, as Triton
    assert classify(scores[:1], 1, []).tolist() == [["0.700000:1"]]  # no labels: "score:index"


def test_a_classification_request_is_answered_as_bytes_json_and_binary() -> None:
    body = _request(
        outputs=[
            {"name": "probabilities", "parameters": {"classification": 2}},
            {"name": "logits", "parameters": {"classification": 1, "binary_data": True}},
        ]
    )
    request = parse_infer_request(*_json(body))
    assert request.classifications == {"probabilities": 2, "logits": 1}
    logits = np.array([[2.0, 0.0, 1.0]], dtype=np.float32)
    labels = ["a", "b", "c"]
    outputs = compute_outputs(logits, request.outputs, request.classifications, labels)
    response, headers = encode_infer_response("m", "1", None, outputs, request.binary_outputs, labels)

    document, tail = split_response(response, headers)
    probabilities, top_logit = document["outputs"]
    assert probabilities["datatype"] == "BYTES" and probabilities["shape"] == [1, 2]
    assert [entry.split(":")[1:] for entry in probabilities["data"]] == [["0", "a"], ["2", "c"]]
    assert float(probabilities["data"][0].split(":")[0]) == pytest.approx(float(softmax(logits)[0, 0]), abs=1e-6)
    assert "labels" not in probabilities.get("parameters", {})  # the strings carry them
    # Binary BYTES: each element's length as little-endian uint32, then its UTF-8 bytes.
    assert top_logit["parameters"] == {"binary_data_size": len(tail)}
    assert tail == len(b"2.000000:0:a").to_bytes(4, "little") + b"2.000000:0:a"


def test_numeric_outputs_carry_their_labels() -> None:
    logits = np.array([[1.0, 2.0]], dtype=np.float32)
    body, headers = encode_infer_response("m", "1", None, {"logits": logits}, {"logits"}, ["x", "y"])
    document, _ = split_response(body, headers)
    (output,) = document["outputs"]
    assert output["parameters"] == {"labels": ["x", "y"], "binary_data_size": 8}
