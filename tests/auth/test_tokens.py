"""JWT access tokens: what is accepted, and the many things that are not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from agentconnect.auth.tokens import ALGORITHM, AUDIENCE, create_access_token, read_token


def user_id_from_token(token: str, secret: str) -> uuid.UUID | None:
    claims = read_token(token, secret)
    return claims.user_id if claims else None


SECRET = "unit-test-secret-" + "0" * 48  # 64 bytes: long enough for HS512 too
USER_ID = uuid.UUID("6f1c2a8e-3d4b-4c5a-9e7f-0a1b2c3d4e5f")


def forge(secret: str = SECRET, algorithm: str = ALGORITHM, **overrides: Any) -> str:
    """A token with valid claims for USER_ID, except those overridden (None drops a claim)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(USER_ID),
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_created_token_gives_back_the_user_id() -> None:
    assert user_id_from_token(create_access_token(USER_ID, SECRET, 60), SECRET) == USER_ID


def test_created_token_expires_after_the_given_minutes() -> None:
    token = create_access_token(USER_ID, SECRET, 30)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM], audience=AUDIENCE)
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert claims["sub"] == str(USER_ID)


def test_expired_token_is_refused() -> None:
    assert user_id_from_token(create_access_token(USER_ID, SECRET, -1), SECRET) is None


def test_token_signed_with_another_secret_is_refused() -> None:
    token = create_access_token(USER_ID, "another-secret-that-is-long-enough-000", 60)
    assert user_id_from_token(token, SECRET) is None


def test_tampered_token_is_refused() -> None:
    header, _payload, signature = create_access_token(USER_ID, SECRET, 60).split(".")
    other_payload = forge(sub=str(uuid.uuid4())).split(".")[1]
    assert user_id_from_token(f"{header}.{other_payload}.{signature}", SECRET) is None


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"aud": None},
        {"exp": None},
        {"sub": None},
        {"iat": None},
        {"sub": "not-a-uuid"},
        {"sub": 42},
        {"exp": datetime.now(UTC) - timedelta(seconds=1)},
    ],
    ids=[
        "wrong-audience",
        "no-audience",
        "no-expiry",
        "no-subject",
        "no-issue-time",
        "bad-subject",
        "numeric-subject",
        "just-expired",
    ],
)
def test_token_with_bad_claims_is_refused(claims: dict[str, Any]) -> None:
    assert user_id_from_token(forge(**claims), SECRET) is None


def test_token_with_another_algorithm_is_refused() -> None:
    assert user_id_from_token(forge(algorithm="HS512"), SECRET) is None


def test_unsigned_token_is_refused() -> None:
    assert user_id_from_token(forge(secret="", algorithm="none"), SECRET) is None


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "ac_an-api-key", "Bearer x.y.z"])
def test_garbage_is_refused(garbage: str) -> None:
    assert user_id_from_token(garbage, SECRET) is None
