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
        default=None, description='{"binary_data": true}: return this output as raw bytes after the JSON'
    )


# sklearn's first digits test image, a 0, flat and on the digits' own scale (0..16).
DIGIT_ZERO: list[JsonValue] = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
    0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]  # fmt: skip
INFER_EXAMPLE: JsonValue = {
    "inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": DIGIT_ZERO}]
}


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
    datatype: str = Field(description="FP32")
    shape: list[int] = Field(description="(N, classes)")
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data_size": n} when the tensor follows the JSON as raw bytes'
    )
    data: list[float] | None = Field(default=None, description="the tensor, flat, row-major (absent when binary)")


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


class ModelMetadata(BaseModel):
    """A V2 model (a composition): what it takes and what it gives."""

    name: str = Field(description="the composition id")
    versions: list[str] = Field(description="the versions served")
    platform: str = Field(description="the runtime, as Triton names it: onnx_onnxv1")
    inputs: list[TensorMetadata] = Field(description="its input tensors")
    outputs: list[TensorMetadata] = Field(description="its output tensors")


class V2Error(BaseModel):
    """An Open Inference Protocol error."""

    error: str = Field(description="what went wrong")
