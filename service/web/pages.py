"""The web UI: one static page at `/` whose ES modules call the JSON API (/v1) from the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PATH = "/static"

pages_router = APIRouter(include_in_schema=False)


@pages_router.get("/")
def index() -> FileResponse:
    # no-cache: the page names its modules without a version, so a browser must revalidate them
    return FileResponse(STATIC_DIR / "ui" / "index.html", headers={"Cache-Control": "no-cache"})
