"""The official Twilio SDK, set up for one company: its account, our callback URLs, the
configurable REST base (a fake server in tests, a proxy in staging), and Twilio's errors
turned into the engine's retry-or-fail verdicts."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import ClientConnectorError, ClientError
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from agentconnect.channels.base import ProviderError
from agentconnect.channels.twilio_settings import TwilioConfig

# Twilio error codes that mean "never send to this number again on this channel".
UNSUBSCRIBED_RECIPIENT = 21610
# Codes worth retrying although Twilio answers them with a 4xx status.
_TRANSIENT_CODES = {20429, 14107, 30001}
_TIMEOUT_SECONDS = 15.0


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """Remembers the `Retry-After` of a 429 answer, which the SDK's exception drops. Each
    provider lane has its own client and sends one request at a time, so the value read after
    a failure is that request's."""

    retry_after: float | None = None

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        response = await super().request(*args, **kwargs)
        self.retry_after = None
        if response.status_code == 429 and response.headers is not None:
            value = response.headers.get("Retry-After")
            if value is not None and str(value).strip().isdigit():
                self.retry_after = float(value)
        return response


class TwilioAccount:
    """A company's Twilio REST client and the URLs Twilio calls back."""

    def __init__(self, config: TwilioConfig, *, public_base_url: str, api_base: str | None):
        self.config = config
        self.http = _HttpClient(timeout=_TIMEOUT_SECONDS)
        self.client = Client(config.account_sid, config.auth_token, http_client=self.http)
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")
        self.webhook_root = f"{public_base_url.rstrip('/')}/webhooks/twilio/{config.company_id}"

    def url(self, path: str, delivery_id: uuid.UUID | str | None = None) -> str:
        suffix = f"?delivery={delivery_id}" if delivery_id is not None else ""
        return f"{self.webhook_root}/{path}{suffix}"

    @contextlib.asynccontextmanager
    async def calling(self) -> AsyncIterator[None]:
        """Around a REST call: Twilio's refusals and network failures become ProviderErrors."""
        try:
            yield
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self.error(exc) from exc
        except ClientConnectorError as exc:  # never connected: nothing was sent
            raise ProviderError(f"Twilio unreachable: {exc}", transient=True) from exc
        except (ClientError, TimeoutError, OSError) as exc:
            # The request may have reached Twilio before the answer was lost.
            raise ProviderError(
                f"no answer from Twilio: {type(exc).__name__}: {exc}",
                transient=True,
                uncertain=True,
            ) from exc

    def error(self, exc: TwilioRestException | TwilioServiceException) -> ProviderError:
        """Retry on throttling and Twilio's own failures; fail for good on what a retry
        cannot fix (an invalid or unsubscribed number, a rejected template)."""
        code = exc.code
        status = int(exc.status or 0)
        transient = status == 429 or status >= 500 or code in _TRANSIENT_CODES
        said = getattr(exc, "msg", None) or getattr(exc, "detail", None) or exc.title
        reason = f"Twilio error {code}: {said}" if code else f"Twilio HTTP {status}"
        retry_after = self.http.retry_after if transient else None
        return ProviderError(
            reason,
            transient=transient,
            retry_after=retry_after,
            code=code,
            suppress_address=code == UNSUBSCRIBED_RECIPIENT,
        )

    async def close(self) -> None:
        await self.http.close()
