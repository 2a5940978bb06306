"""The API's pages that are not JSON: the dashboard, Swagger UI, the Prometheus metrics.

None of them is in the OpenAPI document."""

from __future__ import annotations

import functools
import importlib.resources

import fastapi
import prometheus_client
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from cryptomonitor.metrics import API_REGISTRY

router = fastapi.APIRouter(include_in_schema=False)


@functools.cache
def _dashboard_page() -> str:
    page = importlib.resources.files("cryptomonitor.api") / "static" / "dashboard" / "index.html"
    return page.read_text(encoding="utf-8")


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="CryptoMonitor API",
        swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
    )


@router.get("/")
def dashboard() -> HTMLResponse:
    return HTMLResponse(_dashboard_page())


@router.get("/prometheus")
def prometheus() -> Response:
    """The API process's Prometheus metrics (``/metrics`` is the tracked market metrics)."""
    return Response(
        prometheus_client.generate_latest(API_REGISTRY),
        media_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
