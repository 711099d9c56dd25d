"""docker/Dockerfile, its entrypoint and healthcheck scripts, and .dockerignore."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from service.config import Settings
from tests.deploy.deploy_files import DOCKERIGNORE, ENTRYPOINT, HEALTHCHECK, REPO, Instruction

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ROLES = {
    "api": ["serve"],  # on MODA_HOST:MODA_PORT, which the image sets
    "worker": ["worker"],
    "migrate": ["migrate"],
}


def index_of(instructions: list[Instruction], keyword: str, pattern: str) -> int:
    for i, instruction in enumerate(instructions):
        if instruction.keyword == keyword and re.search(pattern, instruction.args):
            return i
    raise AssertionError(f"no {keyword} matching {pattern!r} in docker/Dockerfile")


def exec_form(instruction: Instruction) -> list[str]:
    args = re.sub(r"^(--\S+\s+)+", "", instruction.args)  # HEALTHCHECK options
    args = args.removeprefix("CMD ").strip()
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def entrypoint_roles() -> dict[str, list[str]]:
    """{role: the command its `case` arm execs}, read from docker/entrypoint.sh."""
    arms = re.findall(r"^\s*([a-z]+)\)\s*exec\s+(.+?)\s*;;", ENTRYPOINT.read_text(), flags=re.MULTILINE)
    return {role: [w for w in shlex.split(command) if w != "$@"] for role, command in arms}


# --- Dockerfile -----------------------------------------------------------------------------------


def image_env(dockerfile: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in (i for i in dockerfile if i.keyword == "ENV"):
        env |= dict(re.findall(r"\b([A-Z_][A-Z0-9_]*)=(\S+)", instruction.args))
    return env


def test_base_image_is_pinned_to_an_exact_python_311_release(dockerfile: list[Instruction]) -> None:
    froms = [i.args for i in dockerfile if i.keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE}"]
    (default,) = [i.args for i in dockerfile if i.keyword == "ARG" and i.args.startswith("PYTHON_IMAGE=")]
    # An exact patch release and Debian suite (a digest, when added, follows them): never a floating tag.
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", default), default


def test_runs_as_a_non_root_user(dockerfile: list[Instruction]) -> None:
    users = [i.args.split(":")[0] for i in dockerfile if i.keyword == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1] not in ("root", "0")
    assert dockerfile.index(next(i for i in dockerfile if i.keyword == "USER")) > index_of(
        dockerfile, "RUN", r"pip install --no-deps"
    ), "install as root first, then drop privileges"


def test_dependencies_come_from_the_runtime_lock_with_the_cpu_index(dockerfile: list[Instruction]) -> None:
    deps = dockerfile[index_of(dockerfile, "RUN", r"pip install .*-r requirements\.lock")]
    assert f"--extra-index-url {CPU_INDEX}" in deps.args, "the lock's torch +cpu lives on the CPU index"
    assert "--index-url" not in deps.args.replace("--extra-index-url", ""), "PyPI must stay the main index"
    locked = (REPO / "requirements.lock").read_text()
    assert re.search(r"^torch==2\.13\.0\+cpu$", locked, flags=re.MULTILINE)
    pinned = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in pinned, "the lock's torch must be pyproject.toml's"
    other_index = [i for i in dockerfile if i.keyword == "RUN" and "download.pytorch.org" in i.args]
    assert all("/whl/cpu" in i.args for i in other_index)


def test_data_is_a_volume_owned_by_the_runtime_user(dockerfile: list[Instruction]) -> None:
    volumes = [i.args for i in dockerfile if i.keyword == "VOLUME"]
    assert volumes in (["/data"], ['["/data"]'])
    assert image_env(dockerfile)["MODA_HOME"] == "/data"
    volume = index_of(dockerfile, "VOLUME", r"/data")
    chown = index_of(dockerfile, "RUN", r"chown -R moda:moda /data")
    assert chown < volume, "a VOLUME's content is fixed where it is declared: chown it first"


def test_serves_on_all_interfaces_with_one_thread_per_process(dockerfile: list[Instruction]) -> None:
    env = image_env(dockerfile)
    assert env["MODA_HOST"] == "0.0.0.0", "the api must be reachable from outside its container"
    assert env["MODA_PORT"] in {i.args for i in dockerfile if i.keyword == "EXPOSE"}
    assert env["OMP_NUM_THREADS"].isdigit(), "each container sets its thread count"


def test_dependency_layer_is_cached_apart_from_the_source(dockerfile: list[Instruction]) -> None:
    lock = index_of(dockerfile, "COPY", r"^requirements\.lock \./?$")
    deps = index_of(dockerfile, "RUN", r"pip install .*-r requirements\.lock")
    first_source = min(index_of(dockerfile, "COPY", rf"^{package}\b") for package in ("service", "modules_store"))
    assert lock < deps < first_source, "COPY the lock, install dependencies, then COPY the source"
    project = index_of(dockerfile, "RUN", r"pip install --no-deps \.")
    assert project > first_source


def test_copies_every_package_the_project_installs(dockerfile: list[Instruction]) -> None:
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in found["include"]}
    copied = {i.args.split()[0] for i in dockerfile if i.keyword == "COPY"}
    assert packages <= copied, f"not copied into the image: {packages - copied}"


def test_healthcheck_runs_the_script_without_a_fixed_port(dockerfile: list[Instruction]) -> None:
    checks = [i for i in dockerfile if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0])
    assert not any("://" in word for word in command), "a URL in the check would fix the port"
    script = command[1]  # python <script>
    copied = next(i for i in dockerfile if i.keyword == "COPY" and i.args.endswith(f" {script}"))
    assert "docker/healthcheck.py" in copied.args


def test_entrypoint_is_the_dispatch_script(dockerfile: list[Instruction]) -> None:
    (entrypoint,) = [exec_form(i) for i in dockerfile if i.keyword == "ENTRYPOINT"]
    copied = next(i for i in dockerfile if i.keyword == "COPY" and "docker/entrypoint.sh" in i.args)
    target = copied.args.split()[-1]
    assert entrypoint in ([target], [Path(target).name]), "ENTRYPOINT must run docker/entrypoint.sh"
    assert "--chmod=0755" in copied.args or "chmod" in " ".join(i.args for i in dockerfile)
    (cmd,) = [exec_form(i) for i in dockerfile if i.keyword == "CMD"]
    assert cmd == ["api"]


def test_every_moda_env_is_a_setting(dockerfile: list[Instruction]) -> None:
    names = set()
    for instruction in (i for i in dockerfile if i.keyword == "ENV"):
        names |= set(re.findall(r"\b(MODA_[A-Z0-9_]+)=", instruction.args))
    assert names, "the image sets no MODA_* defaults"
    unknown = sorted(n for n in names if n.removeprefix("MODA_").lower() not in Settings.model_fields)
    assert not unknown, f"not read by service.config.Settings: {unknown}"


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".venv", "data", ".git", "**/__pycache__", ".pytest_cache", ".ruff_cache"):
        assert needed in patterns, needed
    for kept in ("service", "modules_store", "benchmarks", "docker", "pyproject.toml"):
        assert kept not in patterns, f"{kept} is needed by the build"


# --- docker/entrypoint.sh -------------------------------------------------------------------------


def test_entrypoint_roles_are_the_moda_commands() -> None:
    roles = entrypoint_roles()
    assert roles == {role: ["moda", *args] for role, args in ROLES.items()}
    assert os.stat(ENTRYPOINT).st_mode & stat.S_IXUSR, "docker/entrypoint.sh must be executable"


@pytest.mark.parametrize("command", sorted({args[0] for args in ROLES.values()}))
def test_entrypoint_commands_exist_in_the_cli(command: str) -> None:
    """The very subcommands the tests run as `python -m service <command>`."""
    result = subprocess.run(
        [sys.executable, "-m", "service", command, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for option in (a for a in ROLES["api"] if a.startswith("--")) if command == "serve" else ():
        assert option in result.stdout


@pytest.fixture
def fake_moda(tmp_path: Path) -> dict[str, str]:
    """A PATH on which `moda` prints its arguments as JSON instead of starting anything."""
    fake = tmp_path / "moda"
    printer = "import json, sys; print(json.dumps(['moda', *sys.argv[1:]]))"
    fake.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "{printer}" "$@"\n')
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["moda", *ROLES["api"]]),
        (["api"], ["moda", *ROLES["api"]]),
        (["worker"], ["moda", "worker"]),
        (["worker", "--concurrency", "2"], ["moda", "worker", "--concurrency", "2"]),
        (["migrate"], ["moda", "migrate"]),
        (["moda", "--help"], ["moda", "--help"]),  # anything else runs as given
    ],
    ids=["default", "api", "worker", "worker-args", "migrate", "passthrough"],
)
def test_entrypoint_dispatch(fake_moda: dict[str, str], args: list[str], expected: list[str]) -> None:
    result = subprocess.run(["sh", str(ENTRYPOINT), *args], env=fake_moda, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_entrypoint_passthrough_keeps_the_exit_status(fake_moda: dict[str, str]) -> None:
    result = subprocess.run(["sh", str(ENTRYPOINT), "sh", "-c", "exit 7"], env=fake_moda)
    assert result.returncode == 7


# --- docker/healthcheck.py ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("moda_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def http_server() -> Iterator[str]:
    """/healthz answers 200, anything else 503."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_of_the_api(healthcheck: ModuleType, http_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(healthcheck, "serve_argv", lambda: [b"moda", b"serve"])
    assert healthcheck.main(["check", f"{http_server}/healthz"]) == 0
    assert healthcheck.main(["check", f"{http_server}/down"]) == 1
    closed = http_server.rsplit(":", 1)[0] + ":1"
    assert healthcheck.main(["check", f"{closed}/healthz"]) == 1


@pytest.mark.parametrize("form", ["--port", "--port=", "MODA_PORT"])
def test_healthcheck_finds_the_port_the_api_serves_on(
    healthcheck: ModuleType, http_server: str, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    port = http_server.rsplit(":", 1)[1]
    argv = {
        "--port": [b"/usr/local/bin/moda", b"serve", b"--port", port.encode()],
        "--port=": [b"python", b"-m", b"service", b"serve", f"--port={port}".encode()],
        "MODA_PORT": [b"/usr/local/bin/moda", b"serve"],
    }[form]
    monkeypatch.setenv("MODA_PORT", port if form == "MODA_PORT" else "1")
    monkeypatch.setattr(healthcheck, "serve_argv", lambda: argv)
    assert healthcheck.main(["check"]) == 0
    monkeypatch.setenv("MODA_PORT", "1")
    monkeypatch.setattr(healthcheck, "serve_argv", lambda: [b"moda", b"serve"])
    assert healthcheck.main(["check"]) == 1, "nothing listens on MODA_PORT=1"


def test_healthcheck_passes_for_other_roles(healthcheck: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(healthcheck, "serve_argv", lambda: None)
    assert healthcheck.main(["check", "http://127.0.0.1:1/healthz"]) == 0
    assert healthcheck.main(["check"]) == 0
