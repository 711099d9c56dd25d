"""/docs (Swagger UI) and /redoc (ReDoc) with their scripts and styles served by the app, not a CDN."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.web.pages import STATIC_PATH

SWAGGER = f"{STATIC_PATH}/vendor/swagger-ui"  # swagger-ui-dist 5.36.0 (see static/vendor/README.md)
REDOC = f"{STATIC_PATH}/vendor/redoc"  # redoc 2.5.0
FAVICON = f"{SWAGGER}/favicon-32x32.png"


def docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} – API docs",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
        )

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} – API reference",
            redoc_js_url=f"{REDOC}/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,  # fonts.googleapis.com is off-host: ReDoc falls back to system fonts
        )

    return router
