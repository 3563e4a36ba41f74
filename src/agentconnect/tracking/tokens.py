"""Signed, URL-safe tracking tokens: what a pixel, a link or an unsubscribe URL stands for.

Layout (before base64url without padding): one byte of version and kind, the 16 bytes of the
delivery id, for a click two bytes of link index (into the delivery's `details["links"]`),
then the first 16 bytes (128 bits) of an HMAC-SHA256 over everything before it. An open or
unsubscribe token is 44 characters, a click token 47: an email carries many links.

The key is derived from the application secret for this purpose only, so a tracking token can
never be replayed as anything else the secret signs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import uuid
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

_VERSION = 1
_MAC_BYTES = 16
_MAX_LINKS = 0xFFFF
_SHAPE = re.compile(r"[A-Za-z0-9_-]{40,64}")


class TokenKind(IntEnum):
    OPEN = 1
    CLICK = 2
    UNSUBSCRIBE = 3


@dataclass(frozen=True)
class TrackingToken:
    kind: TokenKind
    delivery_id: uuid.UUID
    # CLICK only: the position of the original URL in the delivery's `details["links"]`.
    link: int | None = None


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hmac.digest(secret.encode(), b"agentconnect/tracking-token/v1", "sha256")


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.digest(_key(secret), payload, "sha256")[:_MAC_BYTES]


def sign_token(
    secret: str, kind: TokenKind, delivery_id: uuid.UUID, link: int | None = None
) -> str:
    if (kind is TokenKind.CLICK) != (link is not None):
        raise ValueError("a click token needs a link index, and only a click token has one")
    payload = bytes([(_VERSION << 4) | kind]) + delivery_id.bytes
    if link is not None:
        if not 0 <= link <= _MAX_LINKS:
            raise ValueError(f"link index must be within 0..{_MAX_LINKS}")
        payload += link.to_bytes(2, "big")
    raw = payload + _mac(secret, payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def open_token(secret: str, delivery_id: uuid.UUID) -> str:
    return sign_token(secret, TokenKind.OPEN, delivery_id)


def click_token(secret: str, delivery_id: uuid.UUID, link: int) -> str:
    return sign_token(secret, TokenKind.CLICK, delivery_id, link)


def unsubscribe_token(secret: str, delivery_id: uuid.UUID) -> str:
    return sign_token(secret, TokenKind.UNSUBSCRIBE, delivery_id)


def read_token(secret: str, token: str, kind: TokenKind | None = None) -> TrackingToken | None:
    """The token's content, or None when it is malformed, forged, altered or of another kind."""
    if not _SHAPE.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Base64 has spare bits in its last character: only the canonical spelling is accepted,
    # so every altered character is refused.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        return None
    if len(raw) < 1 + 16 + _MAC_BYTES:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    version, kind_value = payload[0] >> 4, payload[0] & 0x0F
    if version != _VERSION or kind_value not in TokenKind._value2member_map_:
        return None
    found = TokenKind(kind_value)
    if kind is not None and found is not kind:
        return None
    delivery_id = uuid.UUID(bytes=payload[1:17])
    rest = payload[17:]
    if found is TokenKind.CLICK:
        if len(rest) != 2:
            return None
        return TrackingToken(found, delivery_id, int.from_bytes(rest, "big"))
    if rest:
        return None
    return TrackingToken(found, delivery_id)
