"""compose_email: tracked links in both parts, the pixel, the footer and the headers."""

from __future__ import annotations

import re
import uuid

from agentconnect.tracking.compose import ComposedEmail, compose_email
from agentconnect.tracking.tokens import TokenKind, read_token

SECRET = "test-secret"
BASE = "https://crm.example"
DELIVERY = uuid.UUID("6f1a1b0e-3a55-4a6c-9d2f-1f0f2b6f3c11")
TRACKED = re.compile(r"https://crm\.example/t/c/([A-Za-z0-9_-]+)")


def compose(body: str, context: dict[str, object] | None = None, **kw: object) -> ComposedEmail:
    args: dict[str, object] = {
        "subject": "Hi {{first_name|there}}",
        "body": body,
        "context": {"first_name": "Ada", **(context or {})},
        "delivery_id": DELIVERY,
        "base_url": BASE + "/",
        "secret": SECRET,
        "postal_address": "1 Main Street\nSpringfield",
        "company_name": "Acme & Sons",
        "from_domain": "mail.acme.example",
    }
    args.update(kw)
    return compose_email(**args)  # type: ignore[arg-type]


def targets(email: ComposedEmail, part: str) -> list[str]:
    """The original URL behind every tracked link of one part, through its token."""
    urls = []
    for token in TRACKED.findall(part):
        found = read_token(SECRET, token, TokenKind.CLICK)
        assert found is not None
        assert found.delivery_id == DELIVERY
        assert found.link is not None
        urls.append(email.links[found.link])
    return urls


def test_plain_body_gets_html_and_tracked_links_in_both_parts() -> None:
    email = compose(
        "Hello {{first_name}},\n\nPricing: https://example.com/p?a=1&b=2.\n"
        "Demo (https://example.com/demo)\n\nBye"
    )
    assert email.subject == "Hi Ada"
    assert email.links == ["https://example.com/p?a=1&b=2", "https://example.com/demo"]
    assert targets(email, email.text) == email.links
    assert targets(email, email.html) == email.links
    assert "example.com" not in email.text.split("\n--\n")[0]
    # the sentence's full stop and the closing parenthesis stay outside the links
    assert re.search(r"/t/c/[\w-]+\.\n", email.text)
    assert re.search(r"/t/c/[\w-]+\)", email.text)
    assert email.html.startswith("<p>Hello Ada,</p>")
    assert '<a href="https://crm.example/t/c/' in email.html
    assert ">https://example.com/p?a=1&amp;b=2</a>" in email.html


def test_html_body_hrefs_are_rewritten_and_pixel_and_footer_come_before_body_end() -> None:
    email = compose(
        '<html><body><p>Hi {{first_name}}</p><a href="https://example.com/?a=1&amp;b=2">go</a>'
        " <a href='https://example.com/x'>x</a> <a href=mailto:sales@acme.example>mail</a>"
        "</body></html>"
    )
    assert email.links == ["https://example.com/?a=1&b=2", "https://example.com/x"]
    assert targets(email, email.html) == email.links
    assert "mailto:sales@acme.example" in email.html
    pixel = re.search(
        r'<img src="https://crm\.example/t/o/([\w-]+)" width="1" height="1" alt=""', email.html
    )
    assert pixel is not None
    assert read_token(SECRET, pixel.group(1), TokenKind.OPEN) is not None
    assert email.html.endswith("</body></html>")
    assert email.html.index("Unsubscribe") < email.html.index("/t/o/") < email.html.index("</body>")


def test_footer_has_company_postal_address_and_unsubscribe_in_both_parts() -> None:
    email = compose("Hi")
    unsubscribe = re.search(r"https://crm\.example/u/([\w-]+)", email.text)
    assert unsubscribe is not None
    assert read_token(SECRET, unsubscribe.group(1), TokenKind.UNSUBSCRIBE) is not None
    assert (
        "Acme & Sons\n1 Main Street\nSpringfield\nUnsubscribe: https://crm.example/u/" in email.text
    )
    assert "Acme &amp; Sons<br>1 Main Street<br>Springfield<br>" in email.html
    assert f'<a href="{unsubscribe.group(0)}">Unsubscribe</a>' in email.html


def test_footer_without_postal_address_still_unsubscribes() -> None:
    email = compose("Hi", postal_address=None)
    assert "Acme & Sons\nUnsubscribe: https://crm.example/u/" in email.text
    assert ">Unsubscribe</a>" in email.html


def test_list_unsubscribe_headers_and_message_id() -> None:
    email = compose("Hi")
    token = re.search(r"/u/([\w-]+)", email.text)
    assert token is not None
    assert email.headers == {
        "List-Unsubscribe": (
            f"<mailto:unsubscribe@mail.acme.example?subject=unsubscribe-{token.group(1)}>, "
            f"<https://crm.example/u/{token.group(1)}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert email.message_id_header == f"{DELIVERY}@mail.acme.example"
    other = compose("Hi", delivery_id=uuid.uuid4())
    assert other.message_id_header != email.message_id_header


def test_contact_values_are_escaped_in_html_and_kept_out_of_headers() -> None:
    email = compose(
        "Hi {{first_name}} from {{company_name}}",
        {"first_name": '<script>alert("x")</script>', "company_name": "A & B"},
        subject="Hello {{first_name}}\r\nBcc: victim@example.com",
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in email.html
    assert "A &amp; B" in email.html
    assert '<script>alert("x")</script>' in email.text
    assert "\n" not in email.subject
    assert "\r" not in email.subject


def test_only_urls_the_author_wrote_are_tracked() -> None:
    email = compose(
        "Hi {{first_name}}: {{custom.site}} https://shop.example/?ref={{email}} "
        "https://{{custom.host}}/x https://example.com{{custom.path}}",
        {
            "first_name": "https://evil.example/phish",
            "email": "ada@example.com",
            "custom": {"site": "https://evil.example/2", "host": "evil.example", "path": ".evil"},
        },
    )
    # only the templated URL whose scheme and host the author fixed
    assert email.links == ["https://shop.example/?ref=ada@example.com"]
    assert "https://evil.example/phish" in email.text
    assert targets(email, email.text) == email.links


def test_the_same_url_twice_has_one_index() -> None:
    email = compose("https://example.com/a and again https://example.com/a")
    assert email.links == ["https://example.com/a"]
    assert len(set(TRACKED.findall(email.text))) == 1
