"""The fast path for Twilio's message status callbacks.

Twilio posts a callback for every state of every message — several per SMS, thousands a second
during a large send. Through FastAPI one costs about 2.5 ms of CPU on our reference machine:
matching ~80 routes, dependency injection, an ORM session with its pre-ping and transaction.
The work itself (verify the signature, one SQL statement) is a fraction of that. This ASGI
middleware, in front of the router, takes the ordinary case of
`POST /webhooks/twilio/{company_id}/messages/status` and does only the work:

1. read the body (the body-size limit outside still applies);
2. the company's Twilio settings from a short cache (twilio_settings.CACHE) or one query;
3. the signature over the public URL and the form, with the company's auth token;
4. the statement of twilio_messaging.record_status on a bare autocommit connection (one round
   trip; it stores the callback once, moves the delivery forward only, writes the activity);
5. `204`.

Anything else — no or a wrong signature, unknown settings, fields missing, the rare 21610
opt-out — goes on to the regular endpoint (twilio_webhooks.py) with the body replayed, which
answers exactly as it always does (403 and 422 problem details, the opt-out's extra
statements). So the fast path changes how fast, never what: tests post the same callbacks
through both (tests/channels/test_twilio_status_fastpath.py).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from twilio.request_validator import RequestValidator

from agentconnect.channels import twilio_messaging
from agentconnect.channels.base import ProviderError
from agentconnect.channels.twilio_settings import CACHE, TwilioConfig, config_from_row
from agentconnect.channels.twilio_signature import parse_form
from agentconnect.db import Database
from agentconnect.errors import InvalidInput

log = logging.getLogger(__name__)

_PATH = re.compile(
    r"^/webhooks/twilio/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})/messages/status$"
)
_SIGNATURE = b"x-twilio-signature"
_READ_SETTINGS = (
    "SELECT settings, secret_ciphertext FROM channel_settings "
    "WHERE company_id = %s AND channel = 'twilio'"
)


class TwilioStatusFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if await self._record(scope, uuid.UUID(match.group(1)), body):
            # A new message each time: the middleware outside adds its headers to it.
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, _replay(body, receive), send)

    async def _record(self, scope: Scope, company_id: uuid.UUID, body: bytes) -> bool:
        """True when the callback was recorded here; False leaves it to the endpoint."""
        headers = dict(scope["headers"])
        signature = headers.get(_SIGNATURE)
        if not signature:
            return False
        state = scope["app"].state
        database: Database = state.database
        pool = await database.bare_pool()
        async with pool.connection() as connection:
            config = await _config(connection, company_id, state.secret_key)
            if config is None:
                return False
            if b"%00" in body or b"\x00" in body:
                return False  # NUL is refused by PostgreSQL: the endpoint answers it properly
            params = parse_form(body)
            url = _public_url(scope, str(state.settings.base_url))
            if not _signed(config.auth_token, url, params, signature.decode("latin-1")):
                return False
            form = {name: values[-1] for name, values in params.items()}
            if form.get("AccountSid", config.account_sid) != config.account_sid:
                return False
            try:
                callback, statement = twilio_messaging.status_parameters(
                    company_id, form, _delivery_named(scope)
                )
            except InvalidInput:
                return False
            if callback.unsubscribed_recipient:
                return False  # the opt-out takes more than one statement: the endpoint's job
            await connection.execute(twilio_messaging.RECORD_STATUS_SQL, statement)
        return True


async def _config(connection: Any, company_id: uuid.UUID, secret_key: str) -> TwilioConfig | None:
    clock = asyncio.get_running_loop().time()
    known, config = CACHE.get(company_id, clock)
    if known:
        return config
    row = await (await connection.execute(_READ_SETTINGS, (company_id,))).fetchone()
    try:
        config = config_from_row(company_id, row[0], row[1], secret_key) if row else None
    except ProviderError:  # a token that cannot be decrypted verifies nothing
        config = None
    CACHE.put(company_id, config, clock)
    return config


def _signed(token: str, url: str, params: dict[str, list[str]], signature: str) -> bool:
    """Twilio's signature check. The URL as configured is tried first (one HMAC); the SDK's
    full check, which also tries the URL with and without an explicit port, only if that
    fails."""
    validator = RequestValidator(token)
    if hmac.compare_digest(validator.compute_signature(url, params), signature):
        return True
    return bool(validator.validate(url, params, signature))


def _public_url(scope: Scope, base_url: str) -> str:
    url = base_url.rstrip("/") + scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


def _delivery_named(scope: Scope) -> uuid.UUID | None:
    """`?delivery=` as the endpoint reads it (Starlette: the last value of a repeated one)."""
    query = scope.get("query_string", b"").decode("latin-1")
    values = [value for name, _, value in (p.partition("=") for p in query.split("&"))
              if name == "delivery"]  # fmt: skip
    try:
        return uuid.UUID(values[-1]) if values else None
    except ValueError:
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the endpoint the body already read, then the real stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
