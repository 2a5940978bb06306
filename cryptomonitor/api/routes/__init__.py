"""The API's routes: one module, and one `fastapi.APIRouter`, per resource.

`router` holds them all, in the order of the OpenAPI document.
"""

from __future__ import annotations

import fastapi

from cryptomonitor.api.routes import alerts, gaps, health, metrics, pages, rank, rules

__all__ = ["router"]

router = fastapi.APIRouter()
router.include_router(metrics.router)
router.include_router(rank.router)
router.include_router(alerts.router)
router.include_router(rules.router)
router.include_router(gaps.router)
router.include_router(health.router)
router.include_router(pages.router)
