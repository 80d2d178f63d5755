"""The web page at /app (static files shipped in the package: no CDN at run time) and the
one thing it asks the server for beyond the API, the upload limits."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from deployments.services import ServicesDep
from jobs.uploads import FORMATS

WEB = Path(__file__).resolve().parent / "web"
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
    app.mount("/app", StaticFiles(directory=WEB, html=True), name="app")
