"""Encryption at rest for small secrets (SMTP passwords, Twilio auth tokens).

The key is derived from the app secret with HKDF-SHA256, so there is no second secret to
keep. Ciphertext layout, version 1: `0x01 | nonce (12 bytes) | AES-256-GCM(ciphertext + tag)`.
The leading version byte lets a later key or algorithm coexist with rows written under this
one: decryption dispatches on it, and rows can be re-encrypted lazily.

`context` is authenticated but not stored (AES-GCM associated data): binding a ciphertext to
its row (company and channel) means a value copied into another company's row fails to
decrypt instead of lending it the secret.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HKDF_INFO = b"agentconnect channel secrets"
VERSION_1 = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SecretDecryptionError(ValueError):
    """The ciphertext is damaged, of an unknown version, or was written under another key."""


@lru_cache(maxsize=8)
def _key_v1(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return hkdf.derive(secret_key.encode("utf-8"))


def encrypt_secret(plaintext: str, secret_key: str, *, context: bytes = b"") -> bytes:
    """Encrypt `plaintext` under a key derived from `secret_key` (the app secret)."""
    header = bytes([VERSION_1])
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key_v1(secret_key)).encrypt(nonce, plaintext.encode("utf-8"), header + context)
    return header + nonce + sealed


def decrypt_secret(ciphertext: bytes, secret_key: str, *, context: bytes = b"") -> str:
    """The plaintext of `encrypt_secret`; SecretDecryptionError if it cannot be recovered."""
    if len(ciphertext) < 1 + _NONCE_BYTES + _TAG_BYTES:
        raise SecretDecryptionError("the ciphertext is too short")
    version = ciphertext[0]
    if version != VERSION_1:
        raise SecretDecryptionError(f"unknown ciphertext version {version}")
    nonce, sealed = ciphertext[1 : 1 + _NONCE_BYTES], ciphertext[1 + _NONCE_BYTES :]
    try:
        plain = AESGCM(_key_v1(secret_key)).decrypt(nonce, sealed, ciphertext[:1] + context)
    except InvalidTag:
        raise SecretDecryptionError(
            "the secret cannot be decrypted: it was written under another app secret or "
            "for another record"
        ) from None
    return plain.decode("utf-8")
