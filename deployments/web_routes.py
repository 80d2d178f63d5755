"""The web page at /app (static files shipped in the package: no CDN at run time) and the
one thing it asks the server for beyond the API, the upload limits."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from deployments.services import ServicesDep
from jobs.uploads import FORMATS

WEB = Path(__file__).resolve().parent / "web"
# The page loads only its own files; photos and pictures are blob: URLs, previews too.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Page(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response
router = APIRouter(include_in_schema=False)


class PageConfig(BaseModel):
    max_files: int
    max_file_bytes: int
    accepted: list[str]


@router.get("/app/config.json", response_model=PageConfig)
async def page_config(state: ServicesDep) -> PageConfig:
    limits = state.settings.uploads
    return PageConfig(max_files=limits.max_files, max_file_bytes=limits.max_file_bytes,
                      accepted=list(FORMATS))


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/app", _Page(directory=WEB, html=True), name="app")
