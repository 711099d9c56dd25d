"""A graph exported by service.moda is served as is: same names, same logits as PyTorch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from service.moda import onnx_export
from service.moda.nets import ArchConfig, build_model
from service.serving import sessions, v2
from service.serving.inputs import decode_tensor
from service.serving.sessions import SessionCache
from tests.serving.helpers import DIGITS, ArtifactDir, pixels


def test_the_graph_contract_is_restated_faithfully() -> None:
    assert (sessions.INPUT_NAME, sessions.OUTPUT_NAME) == (onnx_export.INPUT_NAME, onnx_export.OUTPUT_NAME)
    assert v2.LOGITS == onnx_export.OUTPUT_NAME


def test_an_exported_mlp_serves_pytorchs_logits(artifacts: ArtifactDir) -> None:
    torch.manual_seed(0)
    model = build_model(ArchConfig("mlp", DIGITS, 3)).eval()
    sha = artifacts.put(onnx_export.export_onnx(model, ["a", "b", "c"], [0, 1, 2]).data)
    x = pixels(6, DIGITS)
    batch = decode_tensor(x.reshape(6, 64).tolist(), DIGITS, max_batch=8)  # flat JSON samples

    got = SessionCache(artifacts.open_path, capacity=1).run(sha, batch)

    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_serving_does_not_import_torch_fastapi_or_sqlalchemy() -> None:
    code = (
        "import sys; import service.serving.sessions, service.serving.inputs, service.serving.v2, "
        "service.serving.predictions; "
        "print(sorted(m for m in ('torch', 'fastapi', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
