"""Composing a campaign email: personalised, links tracked, an open pixel, a compliant footer
and the List-Unsubscribe headers (RFC 2369, RFC 8058).

Called by the delivery engine for every email, so it is a handful of precompiled regular
expressions over the rendered text, no HTML parser.

Only URLs the template's author wrote are tracked, and so only they can ever be redirected to:
a URL that a contact's value brings into the message (a first name of `https://evil.example`)
is left as it is, never wrapped in a redirect of ours. A templated URL
(`https://shop.example/?ref={{email}}`) is tracked when the author fixed its scheme and host.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentconnect.delivery.renderer import render_message
from agentconnect.tracking.tokens import click_token, open_token, unsubscribe_token

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.I)
_TRAILING = ".,;:!?"
# href="...", href='...' or href=bare, in an <a> tag.
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""", re.I | re.S)
# A templated URL is trusted when its scheme and host come before the first token.
_FIXED_HOST = re.compile(r"https?://[^/?#{}\s]+[/?#]", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_NEWLINES = re.compile(r"[\r\n]+")


@dataclass(frozen=True)
class ComposedEmail:
    subject: str
    text: str
    html: str
    # List-Unsubscribe and List-Unsubscribe-Post.
    headers: dict[str, str]
    # "<uuid>@<domain>" without angle brackets; unique per delivery.
    message_id_header: str
    # The original URLs that were rewritten, in token order: store them in the delivery's
    # `details["links"]`, the only places GET /t/c/{token} redirects to.
    links: list[str]


def _trim(url: str) -> str:
    """A URL found in prose, without the sentence punctuation that follows it."""
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


class _Links:
    """The message's tracked links: which URLs may be tracked, and their tokens."""

    def __init__(self, template: str, base_url: str, secret: str, delivery_id: uuid.UUID):
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        for match in _URL.finditer(html.unescape(template)):
            url = _trim(match.group(0))
            if "{{" not in url:
                self.exact.add(url)
            else:
                prefix = url[: url.index("{{")]
                if _FIXED_HOST.match(prefix):
                    self.prefixes.append(prefix)
        self.urls: dict[str, str] = {}
        self.base = f"{base_url}/t/c/"
        self.secret = secret
        self.delivery_id = delivery_id

    def tracked(self, url: str) -> str | None:
        """The tracking URL standing for `url`, or None when the author did not write it."""
        found = self.urls.get(url)
        if found is not None:
            return found
        if url not in self.exact and not any(url.startswith(p) for p in self.prefixes):
            return None
        index = len(self.urls)
        if index > 0xFFFF:
            return None
        found = self.base + click_token(self.secret, self.delivery_id, index)
        self.urls[url] = found
        return found

    def in_text(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            url = _trim(match.group(0))
            tracked = self.tracked(url)
            if tracked is None:
                return match.group(0)
            return tracked + match.group(0)[len(url) :]

        return _URL.sub(replace, text)

    def in_html(self, markup: str) -> str:
        def replace(match: re.Match[str]) -> str:
            value = next(v for v in match.group(2, 3, 4) if v is not None)
            tracked = self.tracked(html.unescape(value).strip())
            if tracked is None:
                return match.group(0)
            return f'{match.group(1)}"{tracked}"'

        return _HREF.sub(replace, markup)

    def text_to_html(self, text: str) -> str:
        """Plain text as HTML: escaped, paragraphs, line breaks, and bare URLs as links."""

        def inline(part: str) -> str:
            out: list[str] = []
            last = 0
            for match in _URL.finditer(part):
                url = _trim(match.group(0))
                out.append(html.escape(part[last : match.start()]))
                href = self.tracked(url) or url
                out.append(f'<a href="{html.escape(href)}">{html.escape(url)}</a>')
                last = match.start() + len(url)
            out.append(html.escape(part[last:]))
            return "".join(out).replace("\n", "<br>\n")

        paragraphs = [p.strip("\n") for p in _PARAGRAPHS.split(text.strip())]
        return "\n".join(f"<p>{inline(p)}</p>" for p in paragraphs if p)


def compose_email(
    *,
    subject: str | None,
    body: str,
    context: Mapping[str, Any],
    delivery_id: uuid.UUID,
    base_url: str,
    secret: str,
    postal_address: str | None,
    company_name: str,
    from_domain: str,
) -> ComposedEmail:
    base_url = str(base_url).rstrip("/")
    rendered = render_message(subject, body, context, email=True)
    links = _Links(body, base_url, secret, delivery_id)

    if rendered.html_body is None:
        html_part = links.text_to_html(rendered.body)
    else:
        html_part = links.in_html(rendered.html_body)
    text_part = links.in_text(rendered.body)

    token = unsubscribe_token(secret, delivery_id)
    unsubscribe_url = f"{base_url}/u/{token}"
    pixel_url = f"{base_url}/t/o/{open_token(secret, delivery_id)}"

    text_footer = [company_name]
    html_footer = [html.escape(company_name)]
    if postal_address:
        text_footer.append(postal_address.strip())
        html_footer.append(html.escape(postal_address.strip()).replace("\n", "<br>"))
    text_footer.append(f"Unsubscribe: {unsubscribe_url}")
    html_footer.append(f'<a href="{unsubscribe_url}">Unsubscribe</a>')
    text_part = f"{text_part.rstrip()}\n\n--\n" + "\n".join(text_footer) + "\n"
    tail = (
        '<div style="margin-top:24px;font-size:12px;color:#6b7280">'
        + "<br>".join(html_footer)
        + "</div>"
        f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:block;border:0">'
    )
    end = _BODY_END.search(html_part)
    if end is not None:
        html_part = html_part[: end.start()] + tail + html_part[end.start() :]
    else:
        html_part = f"{html_part}\n{tail}"

    headers = {
        "List-Unsubscribe": (
            f"<mailto:unsubscribe@{from_domain}?subject=unsubscribe-{token}>, <{unsubscribe_url}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    # A line break in a contact's value must not start a new header line.
    subject_line = _NEWLINES.sub(" ", rendered.subject or "").strip()
    return ComposedEmail(
        subject=subject_line,
        text=text_part,
        html=html_part,
        headers=headers,
        message_id_header=f"{delivery_id}@{from_domain}",
        links=list(links.urls),
    )
