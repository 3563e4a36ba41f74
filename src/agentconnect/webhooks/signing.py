"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The secret is `whsec_` + base64 of 32 random bytes; the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature` carries one `v1,<base64
HMAC-SHA256>` per valid secret, space-separated, so a receiver that knows either the new or
the old secret (during a rotation's grace period) accepts the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a delivery, signed with every secret given."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }
