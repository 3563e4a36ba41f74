"""Password hashing and API key generation."""

from __future__ import annotations

import re

import pytest

from agentconnect.auth.secrets import (
    API_KEY_PREFIX,
    hash_api_key,
    hash_password,
    new_api_key,
    verify_password,
)

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once for the module


def test_password_hash_is_argon2_and_not_the_password(password_hash: str) -> None:
    assert password_hash.startswith("$argon2")
    assert PASSWORD not in password_hash


def test_right_password_verifies(password_hash: str) -> None:
    assert verify_password(password_hash, PASSWORD) is True


@pytest.mark.parametrize("attempt", ["wrong password", "", PASSWORD.upper(), PASSWORD + " "])
def test_wrong_password_does_not_verify(password_hash: str, attempt: str) -> None:
    assert verify_password(password_hash, attempt) is False


def test_same_password_hashes_differently_each_time(password_hash: str) -> None:
    assert hash_password(PASSWORD) != password_hash


def test_missing_hash_never_verifies() -> None:
    # An unknown user: the dummy hash is checked for timing, but the answer is always no.
    assert verify_password(None, PASSWORD) is False
    assert verify_password(None, "") is False


@pytest.mark.parametrize("broken", ["", "not-a-hash", "$argon2id$v=19$garbage"])
def test_malformed_hash_does_not_verify_nor_raise(broken: str) -> None:
    assert verify_password(broken, PASSWORD) is False


def test_new_api_key_has_prefix_display_prefix_and_hash() -> None:
    key, prefix, key_hash = new_api_key()
    assert key.startswith(API_KEY_PREFIX)
    assert len(key) >= len(API_KEY_PREFIX) + 40  # 32 random bytes, base64url
    assert re.fullmatch(r"ac_[A-Za-z0-9_-]+", key)
    assert prefix == key[:10]
    assert key_hash == hash_api_key(key)


def test_new_api_keys_are_unique() -> None:
    keys = [new_api_key()[0] for _ in range(100)]
    assert len(set(keys)) == len(keys)


def test_api_key_hash_is_sha256_hex_and_deterministic() -> None:
    key = new_api_key()[0]
    assert re.fullmatch(r"[0-9a-f]{64}", hash_api_key(key))
    assert hash_api_key(key) == hash_api_key(key)
    assert hash_api_key(key) != hash_api_key(key + "x")
    assert key not in hash_api_key(key)
