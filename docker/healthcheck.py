"""The image's HEALTHCHECK: GET the api's /healthz when this container runs the api (`moda serve`).

The port is the one the api serves on: its `--port` argument, else MODA_PORT (the image's default 8000),
so a container started with another port stays healthy. Other roles have no HTTP port: a worker's
liveness is its job heartbeats, which the api's reaper watches, so for them this check passes.
"""

import sys
import urllib.request
from pathlib import Path


def serve_argv() -> list[bytes] | None:
    """The argv of a `moda serve` process in this container (PID 1, or under an init like tini)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if b"serve" in argv and any(arg.endswith((b"moda", b"service")) for arg in argv):
            return argv
    return None


def served_port(argv: list[bytes]) -> int:
    """`--port N` or `--port=N` of the serve command line, else the setting `moda serve` defaults to."""
    for i, arg in enumerate(argv):
        if arg == b"--port" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith(b"--port="):
            return int(arg.partition(b"=")[2])
    from service.config import Settings  # the one place MODA_PORT is read

    return Settings().port


def check(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:  # refused, timed out, or an HTTP error status
        print(f"{url}: {error}", file=sys.stderr)
        return 1


def main(argv: list[str]) -> int:
    """`moda-healthcheck [URL]`: the URL overrides the one found from the running api."""
    serve = serve_argv()
    if serve is None:
        return 0
    return check(argv[1] if len(argv) > 1 else f"http://127.0.0.1:{served_port(serve)}/healthz")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
