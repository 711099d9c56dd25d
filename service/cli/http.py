"""Talking to the MODA Hub over HTTP, and turning what goes wrong into errors a person can read.

    CliError            something the command reports as `error: ...` on stderr, then exits
      ├── ApiError      the service answered {"error": {"code", "message"}}        exit 1
      └── Unreachable   no answer at all (refused, timed out, bad URL)              exit 2

httpx exceptions never leave this module: they are translated here, at the boundary.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

# `moda` configures INFO logging for the server commands; one line per request is noise in a CLI.
logging.getLogger("httpx").setLevel(logging.WARNING)

HINTS = {"UNAUTHENTICATED": "pass --api-key or set MODA_API_KEY"}


class CliError(Exception):
    """Printed as `error: <message>` on stderr; the process exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ApiError(CliError):
    """The service refused the request; `code` is its stable error code (NOT_FOUND, ...)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        hint = HINTS.get(code)
        super().__init__(f"{code}: {message}" + (f" ({hint})" if hint else ""))
        self.code = code
        self.message = message
        self.status = status


class Unreachable(CliError):
    exit_code = 2


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        if isinstance(error, dict):
            return ApiError(str(error["code"]), str(error["message"]), response.status_code)
        return ApiError(f"HTTP_{response.status_code}", str(error), response.status_code)  # /v2 shape
    except (ValueError, KeyError, TypeError):  # not our JSON: a proxy's page, say
        text = " ".join(response.text.split())[:200] or response.reason_phrase
        return ApiError(f"HTTP_{response.status_code}", text, response.status_code)


class HubClient:
    """A synchronous client of one MODA Hub; use it as a context manager."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,  # tests: httpx.MockTransport
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> HubClient:
        return cls(args.url, args.api_key)

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except httpx.UnsupportedProtocol as error:
            raise Unreachable(f"invalid service URL {self.url!r}: {error}") from error
        except httpx.ConnectError as error:
            message = f"cannot reach the MODA Hub at {self.url} (is 'moda serve' running?)"
            raise Unreachable(message) from error
        except httpx.TimeoutException as error:
            raise Unreachable(f"the MODA Hub at {self.url} did not answer in time ({error})") from error
        except httpx.TransportError as error:
            raise Unreachable(f"lost the connection to the MODA Hub at {self.url}: {error}") from error

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response of a successful (2xx) request; ApiError or Unreachable otherwise."""
        with self._translated():
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise _api_error(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    @contextmanager
    def stream(self, path: str, read_timeout: float = 60.0) -> Iterator[httpx.Response]:
        """A streamed GET. Errors before the body starts are translated; httpx.TransportError while
        reading the body is left to the caller, which knows whether it can carry on another way."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_timeout)
        with self._translated():
            request = self._http.build_request("GET", path, timeout=timeout)
            response = self._http.send(request, stream=True)
        try:
            if response.is_error:
                with self._translated():
                    response.read()
                raise _api_error(response)
            yield response
        finally:
            response.close()
