"""The HTTP API of one ingress replica, built from its services (the composition root)."""

from functools import partial

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.formparsers import MultiPartParser
from starlette.middleware.cors import CORSMiddleware

import paleon
from auth.deps import identify
from auth.key_routes import router as key_router
from auth.routes import router as auth_router
from auth.webhook_routes import router as webhook_router
from deployments import http_errors, openapi, web_routes
from deployments.feedback_routes import router as feedback_router
from deployments.knowledge_routes import router as knowledge_router
from deployments.metrics_routes import router as metrics_router
from deployments.middleware import BodyLimit, PreAuth, UploadBudget
from deployments.routes import router as job_router
from deployments.services import Services
from deployments.specimen_routes import router as specimen_router
from deployments.submit_routes import router as submit_router

UPLOAD_PATHS = {"/classify-async/"}
CORS_EXPOSE = ["X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining",
               "X-RateLimit-Reset", "Retry-After"]


def build_api(services: Services) -> FastAPI:
    # Swagger UI's assets come from the package (fastapi-offline), not a CDN: /docs works
    # where there is no internet.
    app = FastAPIOffline(
        title="Paleon", redoc_url=None, static_url="/docs-assets",
        summary="Fossil identification: upload photos, get the most likely taxon.",
        version=paleon.__version__,
    )
    app.state.services = services
    uploads = services.settings.uploads
    # Photos are parsed in memory, never spooled to a file (BodyLimit's budget bounds the
    # bytes held); process-wide, and the Ingress is this process's only Starlette app.
    MultiPartParser.spool_max_size = uploads.body_bytes
    app.state.auth = services.auth
    for router in (auth_router, key_router, webhook_router, submit_router, job_router,
                   feedback_router, knowledge_router, specimen_router, metrics_router):
        app.include_router(router)
    web_routes.mount(app)
    http_errors.add_handlers(app)
    app.openapi = partial(openapi.document, app)  # type: ignore[method-assign]
    # Outermost last: CORS headers go on every answer, even a 401 or 413 from the checks
    # inside.
    app.add_middleware(BodyLimit, max_bytes=services.settings.json_body_bytes,
                       upload_paths=UPLOAD_PATHS, upload_max_bytes=uploads.body_bytes,
                       budget=UploadBudget(uploads.buffer_bytes,
                                           per_owner=uploads.in_flight_per_user),
                       min_rate=uploads.min_rate_bytes_s, rate_window_s=uploads.rate_window_s)
    app.add_middleware(PreAuth, paths=UPLOAD_PATHS,
                       check=partial(identify, services=services.auth))
    origins = services.settings.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=CORS_EXPOSE, max_age=600)
    return app
