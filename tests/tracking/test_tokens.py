"""Tracking tokens: compact, signed, and refused when forged, altered or of another kind."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentconnect.tracking.tokens import (
    TokenKind,
    TrackingToken,
    click_token,
    open_token,
    read_token,
    sign_token,
    unsubscribe_token,
)

SECRET = "test-secret"
DELIVERY = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_round_trip_of_each_kind() -> None:
    assert read_token(SECRET, open_token(SECRET, DELIVERY)) == TrackingToken(
        TokenKind.OPEN, DELIVERY
    )
    assert read_token(SECRET, unsubscribe_token(SECRET, DELIVERY)) == TrackingToken(
        TokenKind.UNSUBSCRIBE, DELIVERY
    )
    for link in (0, 1, 255, 65535):
        token = click_token(SECRET, DELIVERY, link)
        assert read_token(SECRET, token, TokenKind.CLICK) == TrackingToken(
            TokenKind.CLICK, DELIVERY, link
        )


def test_tokens_are_short_and_url_safe() -> None:
    assert len(open_token(SECRET, DELIVERY)) == 44
    assert len(click_token(SECRET, DELIVERY, 7)) == 47
    assert set(click_token(SECRET, DELIVERY, 7)) <= set(ALPHABET)


def test_every_altered_character_is_refused() -> None:
    for token in (open_token(SECRET, DELIVERY), click_token(SECRET, DELIVERY, 3)):
        for position, char in enumerate(token):
            for replacement in {ALPHABET[(ALPHABET.index(char) + step) % 64] for step in (1, 32)}:
                altered = token[:position] + replacement + token[position + 1 :]
                assert read_token(SECRET, altered) is None, (position, replacement)


def test_other_secret_kind_or_shape_is_refused() -> None:
    token = open_token(SECRET, DELIVERY)
    assert read_token("another-secret", token) is None
    assert read_token(SECRET, token, TokenKind.CLICK) is None
    assert read_token(SECRET, token[:-1]) is None
    assert read_token(SECRET, token + "A") is None
    assert read_token(SECRET, token + "=") is None
    assert read_token(SECRET, "") is None


def test_a_click_token_needs_a_link() -> None:
    with pytest.raises(ValueError, match="link index"):
        sign_token(SECRET, TokenKind.CLICK, DELIVERY)
    with pytest.raises(ValueError, match="link index"):
        sign_token(SECRET, TokenKind.OPEN, DELIVERY, 1)


@given(st.text(alphabet=ALPHABET, min_size=0, max_size=80))
def test_random_strings_never_pass(token: str) -> None:
    assert read_token(SECRET, token) is None
