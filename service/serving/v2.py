"""The Open Inference Protocol (KServe/Triton V2) REST codec: bytes in, bytes out, no HTTP framework.

Every composition is served as a V2 model with one input and two outputs:

    input          FP32 [-1, C, H, W]  raw pixels, 0..pixel_max ([-1, C·H·W], or [-1, H, W] for one
                                       channel, are accepted too); any other datatype is refused, as
                                       Triton refuses a datatype that is not its config's
    logits         FP32 [-1, K]
    probabilities  FP32 [-1, K]        softmax of logits

The K class labels are in the model metadata's `parameters.labels` and in each output's
`parameters.labels`. Triton's classification extension is supported: an output requested with
`parameters: {"classification": n}` (tritonclient's `class_count`) answers BYTES [-1, min(n, K)],
each sample's top classes as "score:index:label", highest first, the score printed as C's "%f".

Triton's binary tensor data extension is supported both ways: the JSON header is followed by raw
little-endian tensor bytes, the `Inference-Header-Content-Length` header gives the JSON's length,
and `parameters.binary_data_size` each tensor's byte count, in tensor order. `tritonclient.http`
works unchanged (tests/serving/test_v2_tritonclient.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.datatypes import v2_datatype
from service.serving.inputs import decode_flat
from service.serving.predictions import softmax
from service.serving.sessions import INPUT_NAME
from service.serving.v2_models import InferRequestBody

HEADER_LENGTH = "Inference-Header-Content-Length"
LOGITS = "logits"
PROBABILITIES = "probabilities"
OUTPUT_NAMES = (LOGITS, PROBABILITIES)
BYTES = "BYTES"
PLATFORM = "onnxruntime_onnx"  # Triton's name for ONNX models, as its model config spells it
INPUT_DATATYPE = "FP32"  # the graphs' one input type
CLASSIFICATION = "classification"
_SHARED_MEMORY = "shared memory is not supported over HTTP here; send the data in the body"
_UNSUPPORTED_INPUT = {
    "shared_memory_region": _SHARED_MEMORY,
    CLASSIFICATION: "classification is a parameter of a requested output, not of an input",
}
_UNSUPPORTED_OUTPUT = {"shared_memory_region": _SHARED_MEMORY}


def _invalid(message: str) -> HubError:
    return HubError(ErrorCode.INVALID_ARGUMENT, message)


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request: the one input tensor, undecoded, and the outputs wanted."""

    id: str | None
    shape: tuple[int, ...]
    datatype: str
    data: memoryview | list[Any]  # raw little-endian bytes (binary extension) or the JSON `data`
    outputs: tuple[str, ...]  # in the order they are to be returned
    binary_outputs: frozenset[str]
    classifications: Mapping[str, int] = field(default_factory=dict)  # output -> class count asked

    def batch(self, spec: InputSpec, max_batch: int) -> np.ndarray:
        """The input as float32 (N, C, H, W), validated against the model's input spec."""
        return decode_flat(self.data, list(self.shape), self.datatype, spec, max_batch)


def parse_header_length(value: str | None) -> int | None:
    """The `Inference-Header-Content-Length` header value as an int (None when absent)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise _invalid(f"{HEADER_LENGTH} must be an integer, got {value!r}") from None


def _schema_error(exc: ValidationError, header_length: int | None) -> HubError:
    error = exc.errors(include_url=False)[0]
    if error["type"] == "json_invalid":
        why = str(error["msg"]).removeprefix("Invalid JSON: ")
        # Binary tensor bytes after the JSON read as trailing garbage when the length header is missing.
        if header_length is None and why.startswith("trailing characters"):
            why += f"; a body carrying binary tensor data needs the {HEADER_LENGTH} header"
        return _invalid(f"the request is not valid JSON: {why}")
    where = ".".join(str(part) for part in error["loc"])
    return _invalid(f"invalid inference request{f' at {where}' if where else ''}: {error['msg']}")


def _flag(parameters: Mapping[str, Any] | None, key: str, default: bool, where: str) -> bool:
    value = (parameters or {}).get(key, default)
    if not isinstance(value, bool):
        raise _invalid(f"{where} parameter {key!r} must be true or false, got {value!r}")
    return value


def _reject_unsupported(parameters: Mapping[str, Any] | None, where: str, unsupported: Mapping[str, str]) -> None:
    for key, why in unsupported.items():
        if parameters and key in parameters:
            raise _invalid(f"{where}: {why}")


def _input_data(
    request: InferRequestBody, tail: memoryview, header_length: int | None
) -> tuple[list[int], str, memoryview | list[Any]]:
    """The one input's name, shape, datatype and data (JSON list or its slice of the binary tail)."""
    names = [i.name for i in request.inputs]
    for name in names:
        if name != INPUT_NAME:
            raise _invalid(f"unknown input {name!r}; this model has one input, {INPUT_NAME!r}")
    if len(names) > 1:
        raise _invalid(f"input {INPUT_NAME!r} is given {len(names)} times")
    (tensor,) = request.inputs
    where = f"input {tensor.name!r}"
    _reject_unsupported(tensor.parameters, where, _UNSUPPORTED_INPUT)
    if tensor.datatype != INPUT_DATATYPE:
        # Triton refuses any datatype but its config's rather than converting; so do we, so that a
        # client tested here behaves the same there (and no FP64 or UINT8 input is silently cast).
        raise _invalid(
            f"{where} has datatype {tensor.datatype!r}, but this model expects {INPUT_DATATYPE!r}: "
            f"convert the values to float32 before sending them"
        )
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is None:
        if tensor.data is None:
            raise _invalid(f"{where} has neither 'data' nor parameters.binary_data_size")
        data: memoryview | list[Any] = tensor.data
        used = 0
    else:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _invalid(f"{where} binary_data_size must be a non-negative integer, got {size!r}")
        if tensor.data is not None:
            raise _invalid(f"{where} has both 'data' and binary_data_size; send one")
        if header_length is None:
            raise _invalid(f"{where} has binary_data_size but the request has no {HEADER_LENGTH} header")
        data, used = tail[:size], size
    if used != len(tail):
        raise _invalid(
            f"the body has {len(tail)} bytes after the {header_length}-byte JSON header, "
            f"but the inputs' binary_data_size add up to {used}"
        )
    return tensor.shape, tensor.datatype, data


def _class_count(parameters: Mapping[str, Any] | None, where: str) -> int | None:
    """The `classification` parameter of a requested output: how many top classes to return."""
    count = (parameters or {}).get(CLASSIFICATION)
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise _invalid(f"{where} parameter {CLASSIFICATION!r} must be a positive integer, got {count!r}")
    return count


def _outputs(request: InferRequestBody) -> tuple[tuple[str, ...], frozenset[str], dict[str, int]]:
    default_binary = _flag(request.parameters, "binary_data_output", False, "request")
    if not request.outputs:
        return OUTPUT_NAMES, frozenset(OUTPUT_NAMES) if default_binary else frozenset(), {}
    names: list[str] = []
    binary: set[str] = set()
    classifications: dict[str, int] = {}
    for output in request.outputs:
        if output.name not in OUTPUT_NAMES:
            raise _invalid(
                f"unknown output {output.name!r}; this model has outputs {', '.join(map(repr, OUTPUT_NAMES))}"
            )
        if output.name in names:
            raise _invalid(f"output {output.name!r} is requested twice")
        where = f"output {output.name!r}"
        _reject_unsupported(output.parameters, where, _UNSUPPORTED_OUTPUT)
        names.append(output.name)
        if _flag(output.parameters, "binary_data", default_binary, where):
            binary.add(output.name)
        count = _class_count(output.parameters, where)
        if count is not None:
            classifications[output.name] = count
    return tuple(names), frozenset(binary), classifications


def parse_infer_request(body: bytes, header_length: int | None) -> InferRequest:
    """A V2 inference request body -> InferRequest, or INVALID_ARGUMENT saying what is wrong.

    `header_length` is the `Inference-Header-Content-Length` header (see parse_header_length): the
    JSON's length when binary tensor data follows it; None when the whole body is JSON.
    """
    if header_length is None:
        json_end = len(body)
    elif 0 <= header_length <= len(body):
        json_end = header_length
    else:
        raise _invalid(f"{HEADER_LENGTH} is {header_length} but the body has {len(body)} bytes")
    header = body if json_end == len(body) else body[:json_end]
    tail = memoryview(body)[json_end:]  # a view: tensors can be large, copy them once, later
    try:
        request = InferRequestBody.model_validate_json(header)
    except ValidationError as exc:
        raise _schema_error(exc, header_length) from None
    shape, datatype, data = _input_data(request, tail, header_length)
    names, binary, classifications = _outputs(request)
    return InferRequest(request.id, tuple(shape), datatype, data, names, binary, classifications)


def compute_outputs(
    logits: np.ndarray,
    names: Iterable[str],
    classifications: Mapping[str, int] | None = None,
    labels: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """The requested outputs of logits (N, K), in request order; softmax only when asked for.

    An output in `classifications` is replaced by its top classes (see `classify`), named by
    `labels` (the K class labels, in output order).
    """
    available = {LOGITS: lambda: logits, PROBABILITIES: lambda: softmax(logits)}
    outputs = {name: available[name]() for name in names}
    for name, count in (classifications or {}).items():
        outputs[name] = classify(outputs[name], count, labels)
    return outputs


def classify(scores: np.ndarray, count: int, labels: Sequence[str]) -> np.ndarray:
    """Triton's classification of `scores` (N, K): per sample, the top min(count, K) classes as
    "score:index:label" strings (just "score:index" without labels), highest score first."""
    count = min(count, scores.shape[1])
    # A stable sort: equal scores keep their output order, so the answer does not vary run to run.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :count]
    rows = [
        [f"{row[k]:f}:{k}:{labels[k]}" if labels else f"{row[k]:f}:{k}" for k in indices]
        for row, indices in zip(scores.tolist(), top.tolist(), strict=True)
    ]
    return np.array(rows, dtype=np.object_).reshape(len(rows), count)


def _little_endian(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _bytes_tensor(array: np.ndarray) -> bytes:
    """A BYTES tensor's binary form: each element's UTF-8 length (uint32, little-endian), then it."""
    chunks: list[bytes] = []
    for element in array.ravel().tolist():
        raw = element if isinstance(element, bytes) else str(element).encode()
        chunks += [len(raw).to_bytes(4, "little"), raw]
    return b"".join(chunks)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Mapping[str, np.ndarray],
    binary_outputs: Iterable[str],
    labels: Sequence[str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Outputs -> (response body, response headers).

    `labels` name the columns of every numeric output (in its `parameters.labels`); BYTES outputs
    (classifications) carry their labels in their strings.

    Outputs named in `binary_outputs` travel as raw little-endian bytes after the JSON, in output
    order, with `parameters.binary_data_size`; then the body is `application/octet-stream` and
    `Inference-Header-Content-Length` gives the JSON's length, as Triton does and tritonclient
    expects. Otherwise the body is plain JSON with flat row-major `data`.
    """
    binary = set(binary_outputs)
    if not binary <= outputs.keys():
        raise ValueError(f"binary outputs {sorted(binary - outputs.keys())} are not among the outputs")
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, value in outputs.items():
        array = np.asarray(value)
        is_bytes = array.dtype == np.object_
        entry: dict[str, Any] = {
            "name": name,
            "datatype": BYTES if is_bytes else v2_datatype(array.dtype),
            "shape": list(array.shape),
        }
        parameters: dict[str, Any] = {} if is_bytes or labels is None else {"labels": list(labels)}
        if name in binary:
            raw = _bytes_tensor(array) if is_bytes else _little_endian(array)
            parameters["binary_data_size"] = len(raw)
            chunks.append(raw)
        else:
            if not is_bytes and not np.isfinite(array).all():
                # NaN/Infinity are not JSON; sending them would break every client
                raise HubError(ErrorCode.INTERNAL, f"the model produced non-finite values in output {name!r}")
            entry["data"] = array.ravel().tolist()
        if parameters:
            entry["parameters"] = parameters
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = entries
    header = orjson.dumps(response)
    if not chunks:
        return header, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
    return b"".join([header, *chunks]), headers


def model_metadata(name: str, version: str, spec: InputSpec, labels: Sequence[str]) -> dict[str, Any]:
    """The V2 model metadata (`GET /v2/models/{name}`) of a model whose outputs are the classes
    `labels`, in order: the protocol's optional `parameters` carry them, for the model and each output."""
    classes = {"labels": list(labels)}
    return {
        "name": name,
        "versions": [version],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": INPUT_DATATYPE, "shape": [-1, *spec.shape]}],
        "outputs": [
            {"name": output, "datatype": "FP32", "shape": [-1, len(labels)], "parameters": classes}
            for output in OUTPUT_NAMES
        ],
        "parameters": classes,
    }
