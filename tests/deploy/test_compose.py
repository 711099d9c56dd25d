"""docker-compose.yml: validated by Compose itself when it is installed, and by its structure always."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlparse

import pytest

from service.config import Settings
from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    DOCKERIGNORE,
    FILLED_ENV,
    REPO,
    MissingVariable,
    interpolate,
    moda_variables,
)

SERVICES = {"postgres", "redis", "migrate", "api", "worker"}
MODA_SERVICES = ("migrate", "api", "worker")  # the ones that run the image
SCALABLE = ("api", "worker")

EXPECTED_ENV = {
    "MODA_EXECUTOR": "celery",
    "MODA_BROKER_URL": "redis://redis:6379/0",
    "MODA_DATABASE_URL": f"postgresql+psycopg://moda:{FILLED_ENV['POSTGRES_PASSWORD']}@postgres:5432/moda",
    "MODA_ARTIFACTS_URL": "file:///data/artifacts",
}


def compose_commands() -> list[list[str]]:
    """The Compose CLIs on PATH: `docker-compose` (v1 or v2) and the `docker compose` plugin."""
    found = []
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            found.append(["docker", "compose"])
    return found


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):  # the ["KEY=value", ...] form
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """{service: condition}; the short list form means service_started."""
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """{container path: source} of a service's volumes, short or long syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            found[rest.split(":")[0]] = source
        else:
            found[volume["target"]] = volume.get("source", "")
    return found


def healthcheck_test(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


@pytest.mark.parametrize("command", compose_commands() or [None], ids=lambda c: " ".join(c or ["compose"]))
def test_compose_cli_validates_the_file(command: list[str] | None) -> None:
    if command is None:
        pytest.skip("neither `docker-compose` nor `docker compose` is on PATH: only the structure is checked")
    env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME")}
    env |= FILLED_ENV  # what .env gives it
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{' '.join(command)} config failed:\n{result.stdout}{result.stderr}"


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_postgres_is_16_on_a_named_volume_with_pg_isready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16.")
    data = mounts(postgres)["/var/lib/postgresql/data"]
    assert data in compose["volumes"], "PostgreSQL's data must be on a named volume"
    assert "pg_isready" in healthcheck_test(postgres)
    env = env_of(postgres)
    database_url = urlparse(EXPECTED_ENV["MODA_DATABASE_URL"])
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        database_url.username,
        database_url.password,
        database_url.path.lstrip("/"),
    ), "the database the services connect to is the one PostgreSQL creates"


def test_redis_has_a_ping_healthcheck(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis")
    assert "redis-cli ping" in healthcheck_test(redis)


def test_the_moda_services_share_one_image_built_from_docker_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in MODA_SERVICES}
    assert len(images) == 1, f"api, worker and migrate must run one image, not {images}"
    for name in MODA_SERVICES:
        build = services[name]["build"]
        assert (REPO / build["context"]).resolve() == REPO
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == REPO / "docker" / "Dockerfile"


def test_roles_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert [services[name]["command"] for name in MODA_SERVICES] == [["migrate"], ["api"], ["worker"]]

    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert services["migrate"].get("restart", "no") == "no", "migrate is one-shot"
    for name in SCALABLE:
        assert depends_on(services[name]) == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name


def test_api_and_worker_can_be_scaled(compose: dict[str, Any]) -> None:
    for name in SCALABLE:
        service = compose["services"][name]
        assert "container_name" not in service, f"{name}: a fixed container_name forbids replicas"
        assert isinstance(service["deploy"]["replicas"], int)
    for port in compose["services"]["api"].get("ports", []):
        if isinstance(port, dict):
            published = str(port.get("published", ""))
        else:  # "[host_ip:]published:target" or a bare "target" (an ephemeral host port)
            parts = str(port).split(":")
            published = parts[-2] if len(parts) > 1 else ""
        assert not published or "-" in published, (
            f"api publishes the fixed host port {published!r}: a second replica could not bind it; "
            "publish a range (8000-8009:8000) or only the container port"
        )


def test_environment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in MODA_SERVICES:
        env = env_of(services[name])
        assert {key: env.get(key) for key in EXPECTED_ENV} == EXPECTED_ENV, name
    assert env_of(services["api"])["MODA_WORKERS"] == "0", "the api must not run jobs itself"
    assert "MODA_WORKERS" not in env_of(services["worker"])


def test_api_and_worker_share_the_artifacts_volume_at_the_artifacts_path(compose: dict[str, Any]) -> None:
    path = urlparse(EXPECTED_ENV["MODA_ARTIFACTS_URL"]).path
    api, worker = (mounts(compose["services"][name]) for name in SCALABLE)
    assert path in api and path in worker, f"api and worker must both mount {path}"
    assert api[path] == worker[path], "api and worker must mount the same volume"
    assert api[path] in compose["volumes"], "artifacts must be a named volume"


def test_api_and_worker_read_the_same_datasets_where_settings_look_for_them(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The api checks a job's data at submit time and the workers train on it: both need the files.
    monkeypatch.delenv("MODA_DATASETS_DIR", raising=False)
    monkeypatch.setenv("MODA_HOME", "/data")  # the image's MODA_HOME
    path = str(Settings().resolved_datasets_dir)
    api, worker = (mounts(compose["services"][name]) for name in SCALABLE)
    assert path in api and path in worker, f"api and worker must both mount the datasets at {path}"
    assert api[path] == worker[path], "api and worker must read the same datasets"


def test_api_keeps_the_image_healthcheck(compose: dict[str, Any]) -> None:
    healthcheck = compose["services"]["api"].get("healthcheck", {})
    assert not healthcheck.get("disable"), "the api's /healthz check must stay on"


def test_every_moda_variable_is_a_setting(compose: dict[str, Any]) -> None:
    used = moda_variables(COMPOSE_FILE.read_text())
    for name in MODA_SERVICES:
        used |= {key for key in env_of(compose["services"][name]) if key.startswith("MODA_")}
    fields = set(Settings.model_fields)
    unknown = sorted(v for v in used if v.removeprefix("MODA_").lower() not in fields)
    assert not unknown, f"not read by service.config.Settings: {unknown}"


@pytest.mark.parametrize("name", MODA_SERVICES)
def test_each_service_environment_makes_valid_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("MODA_"):
            monkeypatch.delenv(key)
    for key, value in env_of(compose["services"][name]).items():
        if key.startswith("MODA_") and "${" not in value:
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.executor == "celery"
    assert settings.resolved_database_url == EXPECTED_ENV["MODA_DATABASE_URL"]
    assert settings.resolved_artifacts_url == EXPECTED_ENV["MODA_ARTIFACTS_URL"]
    assert settings.broker_url == EXPECTED_ENV["MODA_BROKER_URL"]
    if name == "api":
        assert settings.workers == 0


# --- pins, secrets and threads ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_images_are_pinned_to_an_exact_release(compose: dict[str, Any], name: str) -> None:
    image = compose["services"][name]["image"]
    # name:MAJOR.MINOR[.PATCH][-suite][@sha256:...]: a floating tag (16, 7, latest) changes under a deploy.
    assert re.fullmatch(rf"{name}:\d+\.\d+(\.\d+)?(-[a-z]+)?(@sha256:[0-9a-f]{{64}})?", image), image


def test_secrets_come_from_the_env_file_not_the_compose_file(env_example: dict[str, str]) -> None:
    text = COMPOSE_FILE.read_text()
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        interpolate(text, env_example | {"MODA_API_KEY": "k"})  # .env.example's blank password
    with pytest.raises(MissingVariable, match="MODA_API_KEY"):
        interpolate(text, env_example | {"POSTGRES_PASSWORD": "p"})
    assert FILLED_ENV["POSTGRES_PASSWORD"] not in text


def test_the_env_file_example_lists_every_variable_the_compose_file_reads(env_example: dict[str, str]) -> None:
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used <= set(env_example), f"not in .env.example: {sorted(used - set(env_example))}"
    assert not [v for v in FILLED_ENV if env_example[v]], ".env.example must not ship a secret"


def test_the_env_file_is_neither_committed_nor_sent_to_the_build() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in DOCKERIGNORE.read_text().splitlines()


def test_the_password_postgres_gets_is_the_one_the_services_connect_with(compose: dict[str, Any]) -> None:
    password = env_of(compose["services"]["postgres"])["POSTGRES_PASSWORD"]
    assert password == FILLED_ENV["POSTGRES_PASSWORD"]
    for name in MODA_SERVICES:
        assert urlparse(env_of(compose["services"][name])["MODA_DATABASE_URL"]).password == password


@pytest.mark.parametrize("name", SCALABLE)
def test_each_container_sets_its_threads(compose: dict[str, Any], name: str) -> None:
    env = env_of(compose["services"][name])
    assert int(env["OMP_NUM_THREADS"]) >= 1
    if name == "api":  # 0 would mean one API process per core of the whole host, in every replica
        assert int(env["MODA_API_PROCESSES"]) >= 1


def test_the_compose_file_documents_podman() -> None:
    header = COMPOSE_FILE.read_text().split("\nx-moda-image", 1)[0]
    assert "podman compose" in header
    assert "--format docker" in header, "podman's OCI images drop HEALTHCHECK"
