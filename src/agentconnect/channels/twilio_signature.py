"""Verifying that a webhook request comes from Twilio, for the company its URL names.

Twilio signs each request (`X-Twilio-Signature`: HMAC-SHA1 with the account's auth token over
the full URL it called followed by the POST parameters sorted by name). Behind a proxy the URL
the app sees is not the one Twilio called, so the URL is rebuilt from the configured public
base URL (`AGENTCONNECT_BASE_URL`) and the request's path and query. A missing or wrong
signature, a company without Twilio settings, or another account's SID is 403 — the same answer
for each, so the endpoint tells a prober nothing — and nothing is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from agentconnect.channels.base import ProviderError
from agentconnect.channels.twilio_settings import TwilioConfig, twilio_config
from agentconnect.errors import Forbidden

SIGNATURE_HEADER = "x-twilio-signature"
REFUSED = "the request does not carry a valid Twilio signature for this company"


@dataclass(frozen=True)
class TwilioRequest:
    """A verified webhook: the company's Twilio settings and the posted parameters."""

    config: TwilioConfig
    form: dict[str, str]

    @property
    def company_id(self) -> uuid.UUID:
        return self.config.company_id


def public_url(request: Request, public_base_url: str) -> str:
    url = public_base_url.rstrip("/") + request.url.path
    query = request.url.query
    return f"{url}?{query}" if query else url


class FormParams(dict[str, list[str]]):
    """Every parameter with all its values: Twilio signs each value of a repeated parameter,
    and its validator reads them through `getall` (the MultiDict interface)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def parse_form(body: bytes) -> FormParams:
    params = FormParams()
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


async def verify(
    request: Request,
    session: AsyncSession,
    company_id: uuid.UUID,
    *,
    secret_key: str,
    public_base_url: str,
) -> TwilioRequest:
    """The verified request, or Forbidden."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Forbidden(REFUSED)
    try:
        config = await twilio_config(session, company_id, secret_key)
    except ProviderError:  # a token that cannot be decrypted verifies nothing
        config = None
    if config is None:
        raise Forbidden(REFUSED)
    params = parse_form(await request.body())
    validator = RequestValidator(config.auth_token)
    if not validator.validate(public_url(request, public_base_url), params, signature):
        raise Forbidden(REFUSED)
    form = {name: values[-1] for name, values in params.items()}
    if form.get("AccountSid", config.account_sid) != config.account_sid:
        raise Forbidden(REFUSED)
    return TwilioRequest(config, form)
