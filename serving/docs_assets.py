"""``/docs`` and ``/redoc`` with their JavaScript, CSS and icon served by the app itself.

FastAPI's default docs pages load Swagger UI and ReDoc from a CDN and the favicon from
FastAPI's site: on a network without internet (a demo on a laptop offline, a server
behind a strict proxy) ``/docs`` stays blank. Following FastAPI's "Custom Docs UI
Static Assets (Self-Hosting)" how-to, the app builds both pages with local URLs and
serves the files from the ``fastapi-offline`` package's static folder (Swagger UI 5,
which reads OpenAPI 3.1, and ReDoc 2). Only that folder is used, not its app factory.
ReDoc's Google Fonts are left out for the same reason.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
"""Where the docs' files are served (outside ``/ui``, whose cookie they do not need)."""


def assets_folder() -> Path:
    """The folder of Swagger UI and ReDoc files that ships in the ``fastapi-offline`` wheel."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect, ``/redoc`` and the files they load.

    The app must be created with ``docs_url=None, redoc_url=None`` (FastAPI's own pages
    point at the CDN).
    """
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_folder()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(redirect_url, oauth2_redirect, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
