"""Public tracking endpoints: the open pixel, the click redirect and the unsubscribe page.

No bearer token: the signed token in the path is the authorisation, and a forged or altered
one answers 404 with nothing recorded.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agentconnect.deps import SecretKeyDep, SessionDep
from agentconnect.tracking import service
from agentconnect.tracking.prefetch import is_prefetch
from agentconnect.tracking.tokens import TokenKind

router = APIRouter(tags=["tracking"])

# The smallest transparent 1x1 GIF; the same bytes for every open.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_NO_STORE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex"}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "forged, altered or unknown token"}
}


def _page(title: str, message: str, form_action: str | None = None) -> str:
    form = ""
    if form_action is not None:
        form = (
            f'<form method="post" action="{html.escape(form_action)}">'
            '<button type="submit">Unsubscribe</button></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
        "padding:0 1rem;color:#111827}button{font-size:1rem;padding:.5rem 1.25rem}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{form}"
        "</body></html>"
    )


@router.get(
    "/t/o/{token}",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}}, **_NOT_FOUND},
)
async def open_pixel(
    token: str, request: Request, session: SessionDep, secret: SecretKeyDep
) -> Response:
    """The open pixel: a 1x1 GIF that records `email_opened`.

    Opens fetched by a machine (HEAD requests, Apple Mail Privacy Protection's proxy, security
    scanners) are recorded with `metadata.prefetched = true` and do not count as engagement.
    """
    _, ref = await service.resolve(session, secret, token, TokenKind.OPEN)
    user_agent = request.headers.get("user-agent")
    client_ip = request.client.host if request.client else None
    prefetched = is_prefetch(request.method, user_agent, client_ip)
    await service.record_open(session, ref, prefetched=prefetched, user_agent=user_agent)
    return Response(PIXEL_GIF, media_type="image/gif", headers=_NO_STORE)


@router.get(
    "/t/c/{token}",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "redirect to the link's original URL"}, **_NOT_FOUND},
)
async def click(
    token: str, request: Request, session: SessionDep, secret: SecretKeyDep
) -> RedirectResponse:
    """A tracked link: records `email_clicked`, then redirects (302) to the original URL.

    Only a URL the message itself carried can be the target, never one taken from the request.
    A click reaches the goal of campaigns whose goal is `click` and schedules a new score. A
    HEAD request (a link scanner checking the URL) gets the same redirect and records nothing.
    """
    found, ref = await service.resolve(session, secret, token, TokenKind.CLICK)
    url = service.link_of(found, ref)
    if request.method != "HEAD":
        user_agent = request.headers.get("user-agent")
        await service.record_click(session, ref, url, user_agent=user_agent)
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


# HEAD answers like GET (prefetchers and link scanners use it); one operation in the docs.
router.add_api_route("/t/o/{token}", open_pixel, methods=["HEAD"], include_in_schema=False)
router.add_api_route(
    "/t/c/{token}", click, methods=["HEAD"], status_code=302, include_in_schema=False
)


@router.get("/u/{token}", response_class=HTMLResponse, responses=_NOT_FOUND)
async def unsubscribe_page(token: str, session: SessionDep, secret: SecretKeyDep) -> HTMLResponse:
    """The unsubscribe page a recipient reaches from the footer link: it changes nothing by
    itself (mail scanners follow links), and its button POSTs to the same URL."""
    await service.resolve(session, secret, token, TokenKind.UNSUBSCRIBE)
    body = _page(
        "Unsubscribe",
        "Press the button to stop receiving emails from this sender.",
        form_action=f"/u/{token}",
    )
    return HTMLResponse(body, headers=_NO_STORE)


@router.post("/u/{token}", response_class=HTMLResponse, responses=_NOT_FOUND)
async def unsubscribe(
    token: str, request: Request, session: SessionDep, secret: SecretKeyDep
) -> HTMLResponse:
    """Unsubscribe, from the page's button or a mail client's RFC 8058 one-click POST (body
    `List-Unsubscribe=One-Click`; an empty body is accepted too).

    The contact is opted out, leaves every open enrollment (`opted_out`), its queued messages
    are cancelled and `email_unsubscribed` is recorded once: a repeated POST changes nothing.
    """
    _, ref = await service.resolve(session, secret, token, TokenKind.UNSUBSCRIBE)
    body = await request.body()
    method = "one_click" if b"One-Click" in body else "page"
    await service.unsubscribe(session, ref, method=method)
    page = _page("You are unsubscribed", "You will not receive further emails from this sender.")
    return HTMLResponse(page, headers=_NO_STORE)
