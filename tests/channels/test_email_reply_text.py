"""Only what the contact wrote in an e-mail reply, never the message it quotes."""

from __future__ import annotations

import pytest

from agentconnect.channels.email_reply_text import strip_quoted


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("Yes, call me.", "Yes, call me."),
        (
            "We have budget approved.\n\nOn Mon, 23 Nov 2026 at 10:00, Ann <ann@crm.example>"
            " wrote:\n> Are you interested in pricing?",
            "We have budget approved.",
        ),
        ("Sounds good\n> Would you like a demo?\n> Reply to book one", "Sounds good"),
        (
            "Not now, thanks.\n\n-----Original Message-----\nFrom: Ann\nSubject: Pricing",
            "Not now, thanks.",
        ),
        (
            "Next quarter.\n________________________________\nFrom: Ann <ann@crm.example>\n"
            "Sent: Monday\nDo you have budget?",
            "Next quarter.",
        ),
        ("> only a quote, nothing written", ""),
        ("", ""),
        ("Line one\n\nLine two, and on we go", "Line one\n\nLine two, and on we go"),
    ],
)
def test_the_quoted_message_is_cut_off(body: str, written: str) -> None:
    assert strip_quoted(body) == written
