"""Encryption at rest of channel secrets (kit/crypto.py)."""

from __future__ import annotations

import pytest

from agentconnect.kit.crypto import SecretDecryptionError, decrypt_secret, encrypt_secret

KEY = "an-app-secret-of-reasonable-length-0000"


def test_round_trip_with_unicode_and_spaces() -> None:
    secret = "  pässwörd with spaces  "
    sealed = encrypt_secret(secret, KEY, context=b"row-1")
    assert decrypt_secret(sealed, KEY, context=b"row-1") == secret


def test_ciphertext_is_versioned_random_and_hides_the_secret() -> None:
    a = encrypt_secret("hunter2-hunter2", KEY)
    b = encrypt_secret("hunter2-hunter2", KEY)
    assert a[0] == 1
    assert b[0] == 1
    assert a != b  # a fresh nonce each time
    assert b"hunter2" not in a


@pytest.mark.parametrize(
    ("key", "context"),
    [("another-app-secret-entirely-00000000000", b"row-1"), (KEY, b"row-2")],
    ids=["other key", "other row"],
)
def test_wrong_key_or_context_is_refused(key: str, context: bytes) -> None:
    sealed = encrypt_secret("secret", KEY, context=b"row-1")
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(sealed, key, context=context)


@pytest.mark.parametrize(
    "damage",
    [lambda c: c[:10], lambda c: bytes([9]) + c[1:], lambda c: c[:-1] + bytes([c[-1] ^ 1])],
    ids=["truncated", "unknown version", "flipped bit"],
)
def test_damaged_ciphertext_is_refused(damage) -> None:  # type: ignore[no-untyped-def]
    sealed = encrypt_secret("secret", KEY)
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(damage(sealed), KEY)
