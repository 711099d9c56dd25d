"""Triton's own model configuration schema (`inference.ModelConfig`), from the stock tritonclient.

tritonclient ships the generated `model_config_pb2` inside its gRPC package, whose `__init__`
needs grpcio (not installed: the tests use the HTTP client); the module itself needs protobuf only,
so it is loaded from its file.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import text_format


@cache  # protobuf's descriptor pool takes a file's descriptor once per process
def model_config_pb2() -> ModuleType:
    tritonclient = pytest.importorskip("tritonclient")
    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("tritonclient_model_config_pb2", path)
    assert spec is not None and spec.loader is not None, f"tritonclient has no {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_model_config(text: str) -> Any:
    """config.pbtxt -> inference.ModelConfig, as Triton's parser reads it (unknown fields refused)."""
    return text_format.Parse(text, model_config_pb2().ModelConfig())
