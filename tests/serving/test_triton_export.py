"""The Triton export: a model repository Triton's own config parser reads, whose graph and labels
are the composition's."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime

import numpy as np
import onnxruntime as ort
import pytest

from modules_store import Composition, CompositionClass, Strategy
from service.errors import ErrorCode, HubError
from service.serving.predictions import softmax
from service.serving.triton_config import labels_file, model_config, to_pbtxt
from service.serving.triton_export import export_composition, triton_archive
from service.serving.v2_models import ModelConfig
from tests.serving.helpers import DIGITS, RGB, linear_onnx, pixels, reference_logits
from tests.triton_proto import model_config_pb2, parse_model_config

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LABELS = ["zero", "three", "eight"]


def files_of(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def composition(onnx_sha256: str = "0" * 64) -> Composition:
    classes = [
        CompositionClass(index=k, label=label, module_id=f"m{k}", model_id="model", class_index=index)
        for k, (label, index) in enumerate(zip(LABELS, (0, 3, 8), strict=True))
    ]
    return Composition(
        id="c" * 32,
        strategy=Strategy.PRUNE,
        module_ids=["m0", "m1", "m2"],
        classes=classes,
        input_spec=DIGITS.to_dict(),
        onnx_sha256=onnx_sha256,
        params=10,
        size_ratio=0.5,
        macs=10,
        accuracy=None,
        metrics={},
        job_id=None,
        created_at=CREATED,
    )


def test_the_archive_is_a_model_repository_triton_parses() -> None:
    onnx, weight, bias = linear_onnx(DIGITS, 3)
    archive = triton_archive("comp", DIGITS, LABELS, onnx, 256, CREATED)
    files = files_of(archive)
    assert set(files) == {"comp/config.pbtxt", "comp/labels.txt", "comp/1/model.onnx"}

    config = parse_model_config(files["comp/config.pbtxt"].decode())
    pb2 = model_config_pb2()
    assert (config.name, config.platform, config.backend) == ("comp", "onnxruntime_onnx", "onnxruntime")
    assert config.max_batch_size == 256
    (tensor,) = config.input
    assert (tensor.name, tensor.data_type, list(tensor.dims)) == ("input", pb2.TYPE_FP32, [1, 8, 8])
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [
        ("logits", pb2.TYPE_FP32, [3]),
        ("probabilities", pb2.TYPE_FP32, [3]),
    ]
    for output in config.output:
        assert files[f"comp/{output.label_filename}"].decode().splitlines() == LABELS

    # The graph is the composition's with the served outputs; its names and shapes are the config's.
    session = ort.InferenceSession(files["comp/1/model.onnx"], providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert (graph_input.name, graph_input.shape[1:]) == (tensor.name, list(tensor.dims))
    assert [(o.name, o.shape[1:]) for o in session.get_outputs()] == [(o.name, list(o.dims)) for o in config.output]
    x = pixels(2, DIGITS)
    logits, probabilities = session.run(["logits", "probabilities"], {"input": x})
    np.testing.assert_allclose(logits, reference_logits(x, weight, bias), atol=1e-4)
    np.testing.assert_allclose(probabilities, softmax(logits), atol=1e-6)


def test_the_same_composition_exports_the_same_bytes() -> None:
    onnx, _, _ = linear_onnx(DIGITS, 3)
    first = triton_archive("comp", DIGITS, LABELS, onnx, 8, CREATED)
    assert triton_archive("comp", DIGITS, LABELS, onnx, 8, CREATED) == first
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {int(CREATED.timestamp())}


def test_export_composition_reads_the_graph_and_names_the_file() -> None:
    onnx, _, _ = linear_onnx(DIGITS, 3)
    read: list[str] = []

    def read_artifact(sha: str) -> bytes:
        read.append(sha)
        return onnx

    exported = export_composition(composition("ab" * 32), read_artifact, "triton", 64)
    assert read == ["ab" * 32]
    assert exported.filename == f"composition-{'c' * 32}-triton.tar.gz"
    assert exported.media_type == "application/gzip"
    files = files_of(exported.data)
    assert files[f"{'c' * 32}/labels.txt"].decode().splitlines() == LABELS
    assert parse_model_config(files[f"{'c' * 32}/config.pbtxt"].decode()).name == "c" * 32


def test_an_unknown_format_is_refused_before_anything_is_read() -> None:
    def read_artifact(sha: str) -> bytes:
        raise AssertionError("nothing should be read for a refused format")

    with pytest.raises(HubError) as info:
        export_composition(composition(), read_artifact, "savedmodel", 64)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert "'savedmodel'" in info.value.message and "'triton'" in info.value.message


def test_config_text_escapes_what_text_format_must_escape() -> None:
    config = model_config('odd "name"\\with\nbreaks', RGB, 5, ("logits", "probabilities"), 4, label_filename=None)
    ModelConfig.model_validate(config)  # what OpenAPI documents
    parsed = parse_model_config(to_pbtxt(config))
    assert parsed.name == 'odd "name"\\with\nbreaks'
    assert list(parsed.input[0].dims) == [3, 4, 5]
    assert [o.name for o in parsed.output] == ["logits", "probabilities"]
    assert all(o.label_filename == "" for o in parsed.output)


def test_a_label_that_spans_lines_cannot_go_in_a_label_file() -> None:
    assert labels_file(["a", "b c"]) == "a\nb c\n"
    with pytest.raises(ValueError, match="span lines"):
        labels_file(["a", "b\nc"])
