"""Reference specimens' pictures: GET /specimens/{id}/thumbnail (what `similar_specimens`
and a front end show)."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import Response

from auth.deps import Caller
from deployments.services import ServicesDep
from paleon.errors import NotFound

router = APIRouter(tags=["specimens"])
CACHE = "private, max-age=86400"  # a specimen's picture never changes under its id


@router.get("/specimens/{specimen_id}/thumbnail", response_class=Response,
            responses={200: {"content": {"image/webp": {}},
                             "description": "256 px WebP, metadata stripped"},
                       304: {"description": "Not modified (If-None-Match)"}})
async def thumbnail(
    specimen_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    state: ServicesDep, caller: Caller,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    picture = await state.retrieval.thumbnail(specimen_id)
    if picture is None:
        raise NotFound(f"No picture of specimen {specimen_id!r} (ingested before pictures "
                       "were kept: run `paleon ingest` on its gallery again).")
    etag = '"' + hashlib.sha256(picture).hexdigest()[:32] + '"'
    headers = {"Cache-Control": CACHE, "ETag": etag}
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(picture, media_type="image/webp", headers=headers)
