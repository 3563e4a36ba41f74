"""MIME building (channels/email_message.py), without a server."""

from __future__ import annotations

import base64
import email
import email.policy
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentconnect.channels.base import OutboundMessage
from agentconnect.channels.email_message import EmailSender, _header, build_email, email_bytes
from agentconnect.models import MessageType


def outbound(**fields: object) -> OutboundMessage:
    values: dict[str, object] = {
        "company_id": uuid.uuid4(),
        "channel": MessageType.EMAIL,
        "to": "lead@example.com",
        "subject": "Hello",
        "body": "Hi",
    }
    values.update(fields)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def reparse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_non_ascii_display_name_and_subject_are_encoded_words() -> None:
    msg = build_email(outbound(subject="Ça va? 👋"), EmailSender("crm@example.com", "Zoë Müller"))
    raw = msg.as_bytes()
    assert raw.isascii()
    assert b"=?utf-8?" in raw
    back = reparse(raw)
    assert str(back["From"]) == "Zoë Müller <crm@example.com>"
    assert str(back["Subject"]) == "Ça va? 👋"


def test_display_name_with_specials_is_quoted() -> None:
    msg = build_email(outbound(), EmailSender("crm@example.com", 'ACME, Inc. "Sales"'))
    back = reparse(msg.as_bytes())
    assert back["From"].addresses[0].display_name == 'ACME, Inc. "Sales"'
    assert back["From"].addresses[0].addr_spec == "crm@example.com"


def test_line_breaks_in_subject_cannot_inject_headers() -> None:
    msg = build_email(outbound(subject="Hi\r\nBcc: victim@example.com"), EmailSender("a@b.co"))
    back = reparse(msg.as_bytes())
    assert back["Bcc"] is None
    assert str(back["Subject"]) == "Hi Bcc: victim@example.com"


def test_message_id_given_or_generated() -> None:
    given = build_email(outbound(message_id_header="abc.123@crm.example"), EmailSender("a@b.co"))
    assert given["Message-ID"] == "<abc.123@crm.example>"
    made = build_email(outbound(), EmailSender("a@b.co"))
    assert str(made["Message-ID"]).startswith("<")
    assert str(made["Message-ID"]).endswith("@b.co>")


def test_html_makes_multipart_alternative_text_first() -> None:
    msg = build_email(outbound(html_body="<p>Hi</p>"), EmailSender("a@b.co"))
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    "headers",
    [{"Bad Name": "x"}, {"From": "evil@example.com"}, {"X-Ok": "line\nbreak"}],
    ids=["bad name", "reserved", "line break"],
)
def test_unsafe_extra_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        build_email(outbound(headers=headers), EmailSender("a@b.co"))


_SAMPLES = [
    {"subject": "Hello", "body": "Hi", "html_body": None},
    {"subject": "Ça va? 👋 " * 12, "body": "Grüße,\n.dot line\nend", "html_body": "<p>Grüße</p>"},
    {"subject": "x" * 300, "body": "long " * 400, "html_body": "<p>" + "y" * 1200 + "</p>"},
    {"subject": "Line\r\nbreak", "body": "a\r\nb\rc\n", "html_body": "<b>html</b>"},
]


@pytest.mark.parametrize("sample", _SAMPLES)
@pytest.mark.parametrize(
    "sender",
    [
        EmailSender("crm@example.com"),
        EmailSender("crm@example.com", 'Zoë Müller, "Sales"', "reply@example.com"),
    ],
)
def test_the_fast_writer_says_what_build_email_says(
    sample: dict[str, str | None], sender: EmailSender
) -> None:
    message = outbound(
        **sample,
        headers={
            "List-Unsubscribe": "<mailto:u@example.com>, <https://x.example/u/" + "t" * 60 + ">",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    fast = email_bytes(message, sender, message_id="abc@example.com")
    assert fast.isascii()
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    assert b"\n" not in fast.replace(b"\r\n", b"")
    slow = reparse(build_email(message, sender, message_id="abc@example.com").as_bytes())
    got = reparse(fast)
    for name in (
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Reply-To",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert str(got[name]) == str(slow[name]), name
    for kind in ("plain", "html"):
        slow_part, got_part = slow.get_body((kind,)), got.get_body((kind,))
        if slow_part is None:
            assert got_part is None or kind == "plain"
            continue
        assert got_part is not None
        assert got_part.get_content().replace("\r\n", "\n").rstrip("\n") == (
            slow_part.get_content().replace("\r\n", "\n").rstrip("\n")
        )


# Text a subject may hold once made one line: any character but the control ones.
_HEADER_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"),
    min_size=1,
    max_size=300,
).filter(lambda text: not text.isascii())


@given(value=_HEADER_TEXT, name=st.sampled_from(["Subject", "X-Campaign-Name-Of-Some-Length"]))
def test_a_header_that_is_not_ascii_reads_back_as_written(value: str, name: str) -> None:
    raw = _header(name, value)
    lines = raw.removesuffix(b"\r\n").split(b"\r\n")
    assert all(len(line) <= 76 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])  # folded, never a new header
    assert str(reparse(raw + b"\r\n")[name]) == value


def test_a_long_subject_in_greek_is_split_between_whole_characters() -> None:
    value = (
        "\u03a0\u03c1\u03bf\u03c3\u03c6\u03bf\u03c1\u03ac \u03b3\u03b9\u03b1 " * 9 + "\U0001f642"
    )
    raw = _header("Subject", value)
    for line in raw.removesuffix(b"\r\n").split(b"\r\n"):
        word = line.strip().removeprefix(b"Subject: ")
        assert word.startswith(b"=?utf-8?b?")
        assert word.endswith(b"?=")
        base64.b64decode(word[10:-2]).decode("utf-8")  # each word is whole UTF-8 on its own
    assert str(reparse(raw + b"\r\n")["Subject"]) == value
