"""JWT access tokens for users who sign in with a password."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "agentconnect-api"


def create_access_token(user_id: uuid.UUID, secret: str, minutes: int, version: int = 0) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ver": version,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    version: int


def read_token(token: str, secret: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    try:
        # Without "require", a token that lacks exp would never expire.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
        version = claims.get("ver", 0)
        if not isinstance(version, int):
            return None
        return TokenClaims(user_id=uuid.UUID(str(claims["sub"])), version=version)
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None
