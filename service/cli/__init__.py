"""The `moda` command line: run the service, and talk to it over HTTP."""

from service.cli.main import main

__all__ = ["main"]
