"""The authenticated caller, as routes receive it."""

from dataclasses import dataclass
from typing import Literal

from auth import tokens
from auth.models import User

Method = Literal["jwt", "api_key"]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the user, how they proved it, and the access token's claims
    (None for an API key)."""

    user: User
    method: Method
    access: tokens.Access | None = None
