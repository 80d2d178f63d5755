"""/auth/api-keys: create (the key shown once), list, revoke."""

import asyncio

from fastapi import APIRouter, Response

from auth import api_keys
from auth.deps import SignedIn
from auth.schemas import APIKeyCreate, APIKeyInfo, APIKeyResponse
from auth.services import AuthDep
from paleon.errors import NotFound

router = APIRouter(prefix="/auth/api-keys", tags=["api keys"])


@router.post("", response_model=APIKeyResponse)
async def create_key(body: APIKeyCreate, caller: SignedIn,
                     services: AuthDep) -> APIKeyResponse:
    key = api_keys.generate()
    pepper = services.settings.api_key_pepper.get_secret_value()
    stored = await asyncio.to_thread(
        lambda: services.keys.create(
            user_id=caller.user.id, name=body.name.strip(), prefix=key[: api_keys.SHOWN],
            key_hash=api_keys.digest(key, pepper), max_live=services.settings.max_api_keys,
        )
    )
    return APIKeyResponse(**APIKeyInfo.model_validate(stored).model_dump(), key=key)


@router.get("", response_model=list[APIKeyInfo])
async def list_keys(caller: SignedIn, services: AuthDep) -> list[APIKeyInfo]:
    keys = await asyncio.to_thread(services.keys.for_user, caller.user.id)
    return [APIKeyInfo.model_validate(key) for key in keys]


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, caller: SignedIn, services: AuthDep) -> Response:
    if not await asyncio.to_thread(services.keys.revoke, caller.user.id, key_id):
        raise NotFound(f"You have no API key {key_id!r}.")
    services.principals.forget_user(caller.user.id)
    return Response(status_code=204)
