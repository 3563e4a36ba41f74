"""Rendering pages: the Jinja2 environment, its filters, and the answer helpers views share."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from agentconnect.web.deps import Viewer
from agentconnect.web.session import base_path

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Messages shown after a redirect, chosen by a short code in the URL: nothing a visitor types
# is ever echoed from the query string.
NOTICES = {
    "stage": "Stage changed.",
    "assigned": "Assignment saved.",
    "qualified": "Lead scored again.",
    "manual": "Manual score saved; the lead was scored again.",
    "created": "Campaign created.",
    "saved": "Saved.",
    "step-added": "Step added.",
    "step-deleted": "Step removed.",
    "step-saved": "Step saved.",
    "lead-created": "Lead opened.",
    "started": "Campaign started.",
    "paused": "Campaign paused.",
    "resumed": "Campaign resumed.",
    "cloned": "Campaign cloned: this is the new draft.",
    "test-sent": "Test message sent.",
    "enrolled": "Contacts enrolled.",
    "signed-out": "You are signed out.",
}


def _money(value: Any) -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value))
    return f"{amount:,.0f}" if amount == amount.to_integral() else f"{amount:,.2f}"


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) + " UTC" if value is not None else "—"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


_ACRONYMS = {"mql": "MQL", "sql": "SQL", "sms": "SMS", "ai_intent": "AI intent"}


def label(value: Any) -> str:
    text = str(getattr(value, "value", value) or "")
    return _ACRONYMS.get(text, text.replace("_", " "))


def _json_script(value: Any, element_id: str) -> Markup:
    """Data for the page's scripts as a JSON block (inert, so a strict CSP allows it)."""
    text = (
        json.dumps(value, default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    return Markup(  # noqa: S704 - escaped above: the JSON cannot close the script element
        f'<script type="application/json" id="{element_id}">{text}</script>'
    )


templates.env.filters.update(money=_money, when=_when, pct=_pct, label=label)
templates.env.globals.update(json_script=_json_script)


def validation_lines(errors: list[Any], most: int = 10) -> list[str]:
    """Pydantic's errors as "where: what" lines a person can read (the request part of the
    location and pydantic's "Value error, " prefix left out)."""
    lines = []
    for error in errors[:most]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return templates.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer,
            "csrf": viewer.csrf if viewer else context.pop("csrf", ""),
            "base": base_path(request),
            "notice": notice,
            **context,
        },
        status_code=status_code,
    )


def redirect(request: Request, path: str, notice: str | None = None) -> RedirectResponse:
    """303 to a dashboard path (relative to the mount), with an optional notice code."""
    target = base_path(request) + path
    if notice:
        target += ("&" if "?" in target else "?") + f"notice={notice}"
    return RedirectResponse(target, status_code=303)
