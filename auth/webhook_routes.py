"""/auth/webhook-secret: the key that signs the caller's webhooks, and its rotation."""

import asyncio

from fastapi import APIRouter

from auth.deps import Caller, SignedIn
from auth.schemas import WebhookSecretResponse
from auth.services import AuthDep
from auth.webhook_secrets import SigningSecrets

router = APIRouter(prefix="/auth/webhook-secret", tags=["webhooks"])


def _answer(secrets: SigningSecrets) -> WebhookSecretResponse:
    return WebhookSecretResponse(secret=secrets.current,
                                 previous_valid_until=secrets.previous_until)


@router.get("", response_model=WebhookSecretResponse)
async def webhook_secret(caller: Caller, services: AuthDep) -> WebhookSecretResponse:
    """The secret that signs your webhooks, made on first use."""
    return _answer(await asyncio.to_thread(services.webhook_secrets.get, caller.user.id))


@router.post("/rotate", response_model=WebhookSecretResponse)
async def rotate_webhook_secret(caller: SignedIn, services: AuthDep) -> WebhookSecretResponse:
    """A new secret; for 24 h the previous one signs too (two signatures per delivery).
    Signed-in users only: an API key can read the secret, not replace it."""
    return _answer(await asyncio.to_thread(services.webhook_secrets.rotate, caller.user.id))
