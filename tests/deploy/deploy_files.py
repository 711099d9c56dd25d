"""The deployment files and small parsers for them (docker-compose.yml, docker/Dockerfile, scripts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
HEALTHCHECK = REPO / "docker" / "healthcheck.py"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
# What a user fills into .env for the required variables (.env.example leaves them blank).
FILLED_ENV = {"POSTGRES_PASSWORD": "s3cret-pw", "MODA_API_KEY": "k3y"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(KeyError):
    """A `${VAR:?message}` (or `${VAR?message}`) whose variable is unset or, with `:`, empty."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}` and `${VAR?err}`."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        found = env.get(name)
        missing = found is None or (found == "" and bool(operator) and operator.startswith(":"))
        if operator and operator.endswith("?") and missing:
            raise MissingVariable(f"{name}: {argument}")
        if operator and operator.endswith("-") and missing:
            return argument
        return found or ""

    return _VARIABLE.sub(value, text)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # continuation lines joined with single spaces
    line: int  # where it starts in the file (1-based)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with `\\` continuations joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, args = " ".join(p for p in pending if p).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def moda_variables(text: str) -> set[str]:
    """MODA_* names used in `${VAR}` / `${VAR:-default}` interpolations."""
    return set(re.findall(r"\$\{(MODA_[A-Z0-9_]+)", text))
