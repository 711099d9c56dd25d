"""The JSON shapes of the Open Inference Protocol (KServe/Triton V2) REST API, as pydantic models.

They validate the JSON part of an inference request (service.serving.v2 parses it from raw bytes,
because of the binary tensor extension) and document the endpoints in OpenAPI. Unknown fields are
ignored, as the protocol lets clients send extensions a server does not implement.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

# Strict: JSON 2.0 or "2" as a dimension is a client bug worth reporting, not guessing around.
Dim = Annotated[int, Field(strict=True, ge=0)]
Name = Annotated[str, Field(strict=True, min_length=1)]


class RequestInput(BaseModel):
    name: Name
    shape: list[Dim]
    datatype: Annotated[str, Field(strict=True, examples=["FP32"])]
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data_size": n}: the tensor\'s bytes follow the JSON header'
    )
    data: list[Any] | None = Field(default=None, description="the tensor, flat or nested, row-major")


class RequestOutput(BaseModel):
    name: Name
    parameters: dict[str, Any] | None = Field(
        default=None,
        description='{"binary_data": true}: return this output as raw bytes after the JSON; '
        '{"classification": n}: its top n classes as "score:index:label" strings (BYTES)',
    )


class InferRequestBody(BaseModel):
    id: Annotated[str, Field(strict=True)] | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data_output": true}: default for outputs not listed'
    )
    inputs: Annotated[list[RequestInput], Field(min_length=1)]
    outputs: list[RequestOutput] | None = Field(default=None, description="all outputs when absent")


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"labels": [...]}: the class of each column; binary_data_size when binary'
    )
    data: list[float] | list[str] | None = Field(
        default=None, description='numbers, or "score:index:label" strings for a classification (BYTES)'
    )


class InferResponseBody(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 marks the dynamic batch dimension")
    parameters: dict[str, Any] | None = Field(default=None, description='{"labels": [...]}: the class of each column')


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"labels": [...]}: the classes, in output order'
    )


class RepositoryIndexRequest(BaseModel):
    ready: bool = Field(default=False, description="only ready models (every composition is ready)")


class V2Error(BaseModel):
    error: str


class RepositoryIndexEntry(BaseModel):
    name: str
    version: str
    state: str = Field(description="READY: every composition is served on demand")


class ConfigTensor(BaseModel):
    name: str
    data_type: str = Field(examples=["TYPE_FP32"])
    dims: list[int] = Field(description="per sample: the batch dimension is implicit (max_batch_size > 0)")
    label_filename: str | None = Field(default=None, description="the labels file of the Triton export")


class ModelConfig(BaseModel):
    """Triton's model configuration (model_config.proto's field names), as the export's config.pbtxt."""

    name: str
    platform: str
    backend: str
    max_batch_size: int
    input: list[ConfigTensor]
    output: list[ConfigTensor]


class StatDuration(BaseModel):
    count: int
    ns: int = Field(description="cumulative nanoseconds")


class BatchStats(BaseModel):
    batch_size: int
    compute_input: StatDuration
    compute_infer: StatDuration
    compute_output: StatDuration


class InferenceStats(BaseModel):
    success: StatDuration
    fail: StatDuration
    queue: StatDuration = Field(description="always 0 ns: requests are admitted or refused (429), never queued")
    compute_input: StatDuration
    compute_infer: StatDuration
    compute_output: StatDuration
    cache_hit: StatDuration
    cache_miss: StatDuration


class ModelStatistics(BaseModel):
    name: str
    version: str
    last_inference: int = Field(description="milliseconds since the epoch; 0 before the first")
    inference_count: int = Field(description="samples inferred")
    execution_count: int = Field(description="model runs (requests)")
    inference_stats: InferenceStats
    batch_stats: list[BatchStats]


class StatisticsResponse(BaseModel):
    """Triton's statistics, counted by this API process since it started."""

    model_stats: list[ModelStatistics]
