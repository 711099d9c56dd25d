"""Imports flow one way: api → app → jobs, serving → moda, modules_store. Checked on the source text.

Nothing below the application layer (service/app) imports it or the API; the settings and the
service's errors, beside the layers, import none of them."""

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
    "service/api": ("service.cli",),
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


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package: str) -> None:
    root = ROOT / package
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    assert files, package
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(imported_modules(path))
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[package])
    ]
    assert offending == []
