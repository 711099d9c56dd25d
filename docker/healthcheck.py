"""The image's HEALTHCHECK: GET the api's /healthz when this container runs the api (`moda serve`).

Other roles have no HTTP port: a worker's liveness is its job heartbeats, which the api's reaper
watches, so for them this check passes.
"""

import sys
import urllib.request
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def runs_api() -> bool:
    """Whether a `moda serve` process runs in this container (PID 1, or under an init like tini)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if b"serve" in argv and any(arg.endswith((b"moda", b"service")) for arg in argv):
            return True
    return False


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    if not runs_api():
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:  # refused, timed out, or an HTTP error status
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
