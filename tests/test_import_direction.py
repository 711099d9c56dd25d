"""Imports flow one way: api → app → jobs, serving → moda, modules_store. Checked on the source text.

Nothing below the application layer (service/app) imports it or the API; the settings and the
service's errors, beside the layers, import none of them. The API translates: only the application
layer submits jobs, routes reach below it only for read-only inspection, and the data plane for
nothing of the jobs or the registry (the composition a selection of modules makes is the
application layer's to find)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "service/moda": (
        "fastapi",
        "starlette",
        "sqlalchemy",
        "alembic",
        "modules_store",
        "service.api",
        "service.app",
        "service.jobs",
        "service.serving",
        "service.cli",
        "service.config",
    ),
    "modules_store": ("torch", "fastapi", "starlette", "onnxruntime", "service"),
    "service/serving": (
        "fastapi",
        "starlette",
        "sqlalchemy",
        "service.api",
        "service.app",
        "service.jobs",
        "service.cli",
    ),
    "service/jobs": (
        "fastapi",
        "starlette",
        "sqlalchemy",
        "service.api",
        "service.app",
        "service.serving",
        "service.cli",
    ),
    "service/app": ("fastapi", "starlette", "sqlalchemy", "service.api", "service.cli"),
    "service/api": ("service.cli", "service.jobs.submit"),
    "service/api/routes": ("service.cli", "service.jobs", "modules_store.composition_id"),
    "service/api/data_plane.py": (
        "service.cli",
        "service.jobs",
        "modules_store",
        "service.serving.inputs.decode_tensor",
        "service.serving.inputs.decode_json_body",
        "service.serving.inputs.decode_images",
    ),
    # The web UI talks to the API over HTTP, from the browser: its Python only serves files.
    "service/web": (
        "modules_store",
        "service.api",
        "service.jobs",
        "service.serving",
        "service.moda",
        "service.app",
        "service.cli",
    ),
    "service/config.py": ("service.api", "service.app", "service.jobs", "service.serving", "service.cli"),
    "service/errors.py": ("service.api", "service.app", "service.jobs", "service.serving", "service.cli"),
}


# What a package may import although a prefix of it is forbidden there.
ALLOWED = {"service/api/routes": ("service.jobs.inspection",)}


def imported_modules(path: Path) -> set[str]:
    """Every module imported, and every name imported from one as `module.name`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package: str) -> None:
    root = ROOT / package
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    assert files, package
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(imported_modules(path))
        if _within(name, FORBIDDEN[package]) and not _within(name, ALLOWED.get(package, ()))
    ]
    assert offending == []
