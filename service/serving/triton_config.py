"""A composition's Triton model configuration: as JSON (`GET /v2/models/{name}/config`) and as the
`config.pbtxt` of an exported model repository.

One builder makes both, in the field names of Triton's `model_config.proto` (`inference.ModelConfig`),
so what this server reports is what a Triton server loading the export would report. The batch
dimension is implicit, as Triton wants when `max_batch_size` > 0: dims are per sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.moda.spec import InputSpec
from service.serving.sessions import INPUT_NAME
from service.serving.v2 import INPUT_DATATYPE, PLATFORM

BACKEND = "onnxruntime"
LABELS_FILE = "labels.txt"
# Fields whose values are enum names in the text format (written bare, not quoted).
_ENUM_FIELDS = frozenset({"data_type"})


def triton_datatype(v2_datatype: str) -> str:
    """The model config's name (TYPE_FP32) of an Open Inference Protocol datatype (FP32)."""
    return f"TYPE_{'STRING' if v2_datatype == 'BYTES' else v2_datatype}"


def model_config(
    name: str,
    spec: InputSpec,
    num_classes: int,
    outputs: Sequence[str],
    max_batch_size: int,
    label_filename: str | None = LABELS_FILE,
) -> dict[str, Any]:
    """The Triton model config of a composition whose every output has `num_classes` columns.

    `label_filename` (relative to the model's directory) names the classes of every output, one
    per line, for Triton's classification extension.
    """
    output_entries: list[dict[str, Any]] = []
    for output in outputs:
        entry: dict[str, Any] = {"name": output, "data_type": triton_datatype("FP32"), "dims": [num_classes]}
        if label_filename is not None:
            entry["label_filename"] = label_filename
        output_entries.append(entry)
    return {
        "name": name,
        "platform": PLATFORM,
        "backend": BACKEND,
        "max_batch_size": max_batch_size,
        "input": [{"name": INPUT_NAME, "data_type": triton_datatype(INPUT_DATATYPE), "dims": list(spec.shape)}],
        "output": output_entries,
    }


def labels_file(labels: Sequence[str]) -> str:
    """Triton's label file: line k is the label of output column k."""
    for label in labels:
        if "\n" in label or "\r" in label:
            raise ValueError(f"a class label cannot span lines in a Triton label file: {label!r}")
    return "".join(f"{label}\n" for label in labels)


def to_pbtxt(config: Mapping[str, Any]) -> str:
    """A model config (as model_config returns it) in protobuf text format, as config.pbtxt holds it."""
    return "".join(_fields(config, indent=""))


def _fields(message: Mapping[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    for key, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping):
                lines += [f"{indent}{key} {{\n", *_fields(item, indent + "  "), f"{indent}}}\n"]
            else:
                lines.append(f"{indent}{key}: {_scalar(key, item)}\n")
    return lines


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if key in _ENUM_FIELDS:
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
