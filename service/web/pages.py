"""The web UI: one static page at `/` whose ES modules call the JSON API (/v1) from the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PATH = "/static"

pages_router = APIRouter(include_in_schema=False)


# Only the app's own scripts run, and only its own origin is called: an API value that slipped into
# the page as markup could not run. Inline styles stay allowed (the charts set colours per element).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pages_router.get("/")
def index() -> FileResponse:
    headers = {
        # the page names its modules without a version, so a browser must revalidate them
        "Cache-Control": "no-cache",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
    }
    return FileResponse(STATIC_DIR / "ui" / "index.html", headers=headers)
