"""The JSON shapes of the Open Inference Protocol (KServe/Triton V2) REST API, as pydantic models.

They validate the JSON part of an inference request (service.serving.v2 parses it from raw bytes,
because of the binary tensor extension) and document the endpoints in OpenAPI. Unknown fields are
ignored, as the protocol lets clients send extensions a server does not implement.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

# Strict: JSON 2.0 or "2" as a dimension is a client bug worth reporting, not guessing around.
Dim = Annotated[int, Field(strict=True, ge=0)]
Name = Annotated[str, Field(strict=True, min_length=1)]

# sklearn's first digits test image, a 0, flat and on the digits' own scale (0..16).
DIGIT_ZERO: list[JsonValue] = [
    0,
    0,
    5,
    13,
    9,
    1,
    0,
    0,
    0,
    0,
    13,
    15,
    10,
    15,
    5,
    0,
    0,
    3,
    15,
    2,
    0,
    11,
    8,
    0,
    0,
    4,
    12,
    0,
    0,
    8,
    8,
    0,
    0,
    5,
    8,
    0,
    0,
    9,
    8,
    0,
    0,
    4,
    11,
    0,
    1,
    12,
    7,
    0,
    0,
    2,
    14,
    5,
    10,
    12,
    0,
    0,
    0,
    0,
    6,
    13,
    10,
    0,
    0,
    0,
]
INFER_EXAMPLE: JsonValue = {
    "inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": DIGIT_ZERO}]
}


class RequestInput(BaseModel):
    """One input tensor of an inference request."""

    name: Name = Field(description="the model's input name: `input`")
    shape: list[Dim] = Field(description="(N, C, H, W) or (N, C·H·W)")
    datatype: Annotated[str, Field(strict=True, examples=["FP32"])] = Field(description="the tensor's element type")
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data_size": n}: the tensor\'s bytes follow the JSON header'
    )
    data: list[Any] | None = Field(default=None, description="the tensor, flat or nested, row-major")


class RequestOutput(BaseModel):
    """An output the client wants back."""

    name: Name = Field(description="`logits` or `probabilities`")
    parameters: dict[str, Any] | None = Field(
        default=None,
        description='{"binary_data": true}: return this output as raw bytes after the JSON; '
        '{"classification": n}: its top n classes as "score:index:label" strings (BYTES)',
    )


class InferRequestBody(BaseModel):
    """An Open Inference Protocol inference request (its JSON part)."""

    model_config = ConfigDict(json_schema_extra={"examples": [INFER_EXAMPLE]})
    id: Annotated[str, Field(strict=True)] | None = Field(default=None, description="echoed in the response")
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data_output": true}: default for outputs not listed'
    )
    inputs: Annotated[list[RequestInput], Field(min_length=1)] = Field(description="the input tensors")
    outputs: list[RequestOutput] | None = Field(default=None, description="all outputs when absent")


class ResponseOutput(BaseModel):
    """One output tensor of an inference response."""

    name: str = Field(description="`logits` or `probabilities`")
    datatype: str = Field(description="FP32, or BYTES for a classification")
    shape: list[int] = Field(description="(N, classes), or (N, n) for a classification")
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"labels": [...]}: the class of each column; binary_data_size when binary'
    )
    data: list[float] | list[str] | None = Field(
        default=None, description='numbers, or "score:index:label" strings for a classification (BYTES)'
    )


class InferResponseBody(BaseModel):
    """An Open Inference Protocol inference response (its JSON part)."""

    model_name: str = Field(description="the composition id")
    model_version: str | None = Field(default=None, description="the served version")
    id: str | None = Field(default=None, description="the request's id")
    outputs: list[ResponseOutput] = Field(description="the requested outputs")


class TensorMetadata(BaseModel):
    """A model input's or output's name, type and shape."""

    name: str = Field(description="the tensor's name")
    datatype: str = Field(description="its element type")
    shape: list[int] = Field(description="-1 marks the dynamic batch dimension")
    parameters: dict[str, Any] | None = Field(default=None, description='{"labels": [...]}: the class of each column')


class ModelMetadata(BaseModel):
    """A V2 model (a composition): what it takes and what it gives."""

    name: str = Field(description="the composition id")
    versions: list[str] = Field(description="the versions served")
    platform: str = Field(description="the runtime, as Triton names it: onnxruntime_onnx")
    inputs: list[TensorMetadata] = Field(description="its input tensors")
    outputs: list[TensorMetadata] = Field(description="its output tensors")
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"labels": [...]}: the classes, in output order'
    )


class RepositoryIndexRequest(BaseModel):
    """Which models the repository index lists."""

    ready: bool = Field(default=False, description="only ready models (every composition is ready)")


class V2Error(BaseModel):
    """An Open Inference Protocol error."""

    error: str = Field(description="what went wrong")


class RepositoryIndexEntry(BaseModel):
    """One model of the repository: a composition."""

    name: str = Field(description="the composition id")
    version: str = Field(description="the served version")
    state: str = Field(description="READY: every composition is served on demand")


class ConfigTensor(BaseModel):
    """An input or output of a model configuration."""

    name: str = Field(description="the tensor's name")
    data_type: str = Field(examples=["TYPE_FP32"], description="its element type, as Triton names it")
    dims: list[int] = Field(description="per sample: the batch dimension is implicit (max_batch_size > 0)")
    label_filename: str | None = Field(default=None, description="the labels file of the Triton export")


class ModelConfig(BaseModel):
    """Triton's model configuration (model_config.proto's field names), as the export's config.pbtxt."""

    name: str = Field(description="the composition id")
    platform: str = Field(description="onnxruntime_onnx")
    backend: str = Field(description="onnxruntime")
    max_batch_size: int = Field(description="the most samples one request may send (MODA_MAX_BATCH)")
    input: list[ConfigTensor] = Field(description="its inputs")
    output: list[ConfigTensor] = Field(description="its outputs")


class StatDuration(BaseModel):
    """A count and the time it took."""

    count: int = Field(description="how many")
    ns: int = Field(description="cumulative nanoseconds")


class BatchStats(BaseModel):
    """Figures of the runs of one batch size."""

    batch_size: int = Field(description="samples per run")
    compute_input: StatDuration = Field(description="parsing the inputs")
    compute_infer: StatDuration = Field(description="running the model")
    compute_output: StatDuration = Field(description="encoding the outputs")


class InferenceStats(BaseModel):
    """Where the time of a model's inferences went."""

    success: StatDuration = Field(description="requests answered")
    fail: StatDuration = Field(description="requests refused or failed")
    queue: StatDuration = Field(description="always 0 ns: requests are admitted or refused (429), never queued")
    compute_input: StatDuration = Field(description="parsing the inputs")
    compute_infer: StatDuration = Field(description="running the model")
    compute_output: StatDuration = Field(description="encoding the outputs")
    cache_hit: StatDuration = Field(description="always 0: there is no response cache")
    cache_miss: StatDuration = Field(description="always 0: there is no response cache")


class ModelStatistics(BaseModel):
    """One model's statistics."""

    name: str = Field(description="the composition id")
    version: str = Field(description="the served version")
    last_inference: int = Field(description="milliseconds since the epoch; 0 before the first")
    inference_count: int = Field(description="samples inferred")
    execution_count: int = Field(description="model runs (requests)")
    inference_stats: InferenceStats = Field(description="where the time went")
    batch_stats: list[BatchStats] = Field(description="per batch size")


class StatisticsResponse(BaseModel):
    """Triton's statistics, counted by this API process since it started."""

    model_stats: list[ModelStatistics] = Field(description="one per model asked about")
