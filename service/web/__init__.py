"""What the API process serves to people in a browser: the web UI at `/` and the API docs at
`/docs` and `/redoc`, every asset from the app itself (`/static`), so that both work offline."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.web.docs import docs_router
from service.web.pages import STATIC_DIR, STATIC_PATH, pages_router

__all__ = ["STATIC_PATH", "install_web"]


def install_web(app: FastAPI) -> None:
    """Mount the UI, the docs and their static files on `app` (created with docs_url=None, redoc_url=None)."""
    app.include_router(docs_router(app))
    app.include_router(pages_router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
