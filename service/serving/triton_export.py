"""A composition as a Triton/KServe model repository, packed as tar.gz:

    <name>/config.pbtxt    platform onnxruntime_onnx, dims per sample, max_batch_size
    <name>/labels.txt      one class label a line, in output order (the outputs' label_filename)
    <name>/1/model.onnx    the composition's graph with the outputs this server's V2 model has:
                           `logits`, and `probabilities` (a Softmax node appended)

Unpacked into a model repository directory, Triton (and KServe's Triton runtime) serve it as this
server serves it over V2: the same input, outputs, labels and config (`GET /v2/models/{id}/config`).
The graph takes raw pixels (normalisation is inside it), so clients send what they send here.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import onnx

from modules_store import Composition
from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.sessions import OUTPUT_NAME
from service.serving.triton_config import LABELS_FILE, labels_file, model_config, to_pbtxt
from service.serving.v2 import OUTPUT_NAMES, PROBABILITIES

FORMATS = ("triton",)
MEDIA_TYPE = "application/gzip"
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Export:
    data: bytes
    filename: str
    media_type: str


def export_composition(
    composition: Composition, read_artifact: Callable[[str], bytes], export_format: str, max_batch_size: int
) -> Export:
    """The composition packed for another server, its graph read by `read_artifact(sha256)`;
    INVALID_ARGUMENT for a format not in FORMATS (before anything is read)."""
    if export_format not in FORMATS:
        raise HubError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown export format {export_format!r}; the formats are {', '.join(map(repr, FORMATS))}",
        )
    labels = [c.label for c in composition.classes]
    spec = InputSpec.from_dict(composition.input_spec)
    onnx = read_artifact(composition.onnx_sha256)
    try:
        data = triton_archive(composition.id, spec, labels, onnx, max_batch_size, composition.created_at)
    except ValueError as error:  # labels a Triton label file cannot hold
        raise HubError(ErrorCode.CONFLICT, f"composition {composition.id} cannot be exported: {error}") from None
    return Export(data, f"composition-{composition.id}-triton.tar.gz", MEDIA_TYPE)


def triton_archive(
    name: str,
    spec: InputSpec,
    labels: Sequence[str],
    onnx: bytes,
    max_batch_size: int,
    created_at: datetime,
) -> bytes:
    """The model repository of one model `name` as tar.gz bytes; its files dated `created_at`, so
    that the same composition always exports the same bytes."""
    config = model_config(name, spec, len(labels), OUTPUT_NAMES, max_batch_size, LABELS_FILE)
    files = {
        f"{name}/config.pbtxt": to_pbtxt(config).encode(),
        f"{name}/{LABELS_FILE}": labels_file(labels).encode(),
        f"{name}/1/{MODEL_FILE}": with_probabilities(onnx),
    }
    buffer = io.BytesIO()
    # mtime=0 in the gzip header: the archive's bytes depend on its content only.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for directory in (name, f"{name}/1"):
            archive.addfile(_entry(directory, 0, created_at, tarfile.DIRTYPE))
        for path, data in files.items():
            archive.addfile(_entry(path, len(data), created_at, tarfile.REGTYPE), io.BytesIO(data))
    return buffer.getvalue()


def with_probabilities(graph: bytes) -> bytes:
    """The graph with a second output, `probabilities` = softmax(`logits`) over the classes, as the
    V2 endpoint computes it."""
    model = onnx.load_from_string(graph)
    logits = next((o for o in model.graph.output if o.name == OUTPUT_NAME), None)
    if logits is None:
        # Every stored composition has it (service.moda.onnx_export's contract): a broken invariant.
        raise HubError(ErrorCode.INTERNAL, f"the composition's graph has no {OUTPUT_NAME!r} output")
    model.graph.node.append(
        onnx.helper.make_node("Softmax", [OUTPUT_NAME], [PROBABILITIES], name="export_probabilities", axis=-1)
    )
    probabilities = onnx.ValueInfoProto()
    probabilities.CopyFrom(logits)  # the same type and shape: (batch, classes) float32
    probabilities.name = PROBABILITIES
    model.graph.output.append(probabilities)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _entry(path: str, size: int, created_at: datetime, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.size = size
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = int(created_at.timestamp())
    return info
