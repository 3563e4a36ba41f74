"""Phone and e-mail normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentconnect.kit.emails import normalize_email
from agentconnect.kit.phones import to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550100", "+14155550100"),
        ("(415) 555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+49 (0)30 901820", "+4930901820"),
        (" +33 1 42 68 53 00 ", "+33142685300"),
    ],
)
def test_phones_become_e164(raw: str, expected: str) -> None:
    assert to_e164(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "12", "hello", "+999 123", "+1 555"])
def test_impossible_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"phone|empty"):
        to_e164(raw)


@given(st.text(max_size=30))
def test_phone_normalisation_never_crashes_and_is_idempotent(raw: str) -> None:
    try:
        normalised = to_e164(raw)
    except ValueError:
        return
    assert normalised.startswith("+")
    assert to_e164(normalised) == normalised


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        (" bob.o'neil+crm@sub.example.org ", "bob.o'neil+crm@sub.example.org"),
        ("zoë@exämple.de", "zoë@exämple.de"),
    ],
)
def test_emails_are_normalised(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "plain", "a@", "@b.com", "a@b", "a b@c.com", "a@@b.com"])
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="e-mail"):
        normalize_email(raw)
