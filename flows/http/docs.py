"""`/docs` (Swagger UI) and `/redoc`, served from the vendored assets so they work offline.

FastAPI's own page builders, pointed at `/ui/static/vendor/` instead of a CDN, with no Google
fonts, no favicon from fastapi.tiangolo.com and no call to Swagger's online validator. The OpenAPI
document always declares the bearer scheme, so "Authorize" is there to use; with a token set it
is also required on every operation (what AccessControl enforces). The app is created with
`docs_url=None, redoc_url=None` and these routes take their place.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/ui/static/vendor"
FAVICON = "data:,"  # none at all rather than one from a CDN
# Both pages may load only from this server. Redoc's sidebar shows a logo from cdn.redoc.ly (no option
# turns it off): a small script loaded first points foreign images at nothing, so the browser never
# asks (Redoc then drops the logo), and the policy would block anything that slipped past it.
OFFLINE_IMAGES = '<script src="/ui/static/offline-images.js"></script>\n'
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "LH_API_TOKEN, as `Authorization: Bearer <token>`",
}


def declare_bearer(app: FastAPI, *, required: bool) -> None:
    """The OpenAPI document names the bearer scheme always, and requires it when a token is set."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        if "bearerAuth" not in schemes:
            schemes["bearerAuth"] = dict(BEARER)
            if required:
                schema["security"] = [{"bearerAuth": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, *, token: bool) -> None:
    declare_bearer(app, required=token)
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=FAVICON,
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )
        page.headers["Content-Security-Policy"] = CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
        html = bytes(page.body).decode().replace("<script src=", OFFLINE_IMAGES + "<script src=", 1)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP})
