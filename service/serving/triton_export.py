"""A composition as a Triton/KServe model repository, packed as tar.gz:

    <name>/config.pbtxt    platform onnxruntime_onnx, dims per sample, max_batch_size
    <name>/labels.txt      one class label a line, in output order (the config's label_filename)
    <name>/1/model.onnx    the composition's graph, as `/v1/compositions/{id}/onnx` serves it

Unpacked into a model repository directory, Triton (and KServe's Triton runtime) serve it as is;
the graph takes raw pixels (normalisation is inside it), so clients send what they send here.
The exported graph has one output, `logits`: Triton's classification extension ranks by it, and
the ranking is that of the probabilities this server adds.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from modules_store import Composition
from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.sessions import OUTPUT_NAME
from service.serving.triton_config import LABELS_FILE, labels_file, model_config, to_pbtxt

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
    labels = [str(c["label"]) for c in composition.classes]
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
    config = model_config(name, spec, len(labels), (OUTPUT_NAME,), max_batch_size, LABELS_FILE)
    files = {
        f"{name}/config.pbtxt": to_pbtxt(config).encode(),
        f"{name}/{LABELS_FILE}": labels_file(labels).encode(),
        f"{name}/1/{MODEL_FILE}": onnx,
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


def _entry(path: str, size: int, created_at: datetime, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.size = size
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = int(created_at.timestamp())
    return info
