"""The SMTP provider, on aiosmtplib: one reused connection per provider object, two-phase send.

`prepare` runs the transaction up to the point of no return: MAIL FROM, RCPT TO, DATA and the
whole dot-stuffed content, everything but the final `.` line. The server delivers nothing
until that line arrives, and discards the message if the connection closes first. So the
engine can record a delivery as sent between `prepare` and `commit`: a crash before `commit`
sends nothing, a crash after it has the delivery recorded.

aiosmtplib has no public call for "DATA without the end"; `SMTP.data()` writes content and
terminator together. The split uses `SMTP.execute_command(b"DATA")` (public) and then the
connection's `SMTPProtocol.write()` and `read_response()`, public methods of the protocol
object that `SMTP.protocol` exposes. Nothing private is touched; the one thing taken on
trust is that no other command runs on the connection in between, which the provider's lock
guarantees.

One provider object holds one connection and runs one transaction at a time; the engine
keeps a small pool of them for concurrency. They share nothing.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from agentconnect.channels.base import (
    CommitUncertain,
    OutboundMessage,
    ProviderError,
    ProviderResult,
)
from agentconnect.channels.email_message import EmailSender, email_bytes, message_id_of

Security = Literal["none", "starttls", "tls"]

_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")
_SMTP_DATA_START = 354
_SMTP_OK = 250
_SMTP_CLOSING = 421


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    # EHLO name; aiosmtplib asks the system for its FQDN when None.
    local_hostname: str | None = None
    # A private CA or a test certificate; None verifies against the system's trust store.
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


class SmtpCommitUncertain(CommitUncertain):
    """The final `.` was written but no answer came: the server may have accepted the message."""


def _data_payload(raw: bytes) -> bytes:
    """The message as DATA carries it: CRLF lines, dot-stuffed, ending in CRLF, no terminator."""
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return _DOT_AT_LINE_START.sub(b"..", raw)


def _is_transient_code(code: int) -> bool:
    # 4xx asks to try again later; anything that is not 5xx (a garbled answer) is not a
    # verdict on the message either.
    return not 500 <= code <= 599


def _response_error(exc: SMTPResponseException, what: str) -> ProviderError:
    text = " ".join(exc.message.split())
    return ProviderError(
        f"the SMTP server refused {what}: {exc.code} {text}",
        transient=_is_transient_code(exc.code),
    )


def provider_error(exc: BaseException, what: str = "the message") -> ProviderError:
    """A ProviderError for what aiosmtplib (or the network) raised while sending `what`."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, SMTPRecipientRefused):
        return _response_error(exc, f"the recipient {exc.recipient}")
    if isinstance(exc, SMTPResponseException):
        return _response_error(exc, what)
    if isinstance(exc, SMTPTimeoutError | TimeoutError):
        return ProviderError(f"the SMTP server timed out: {exc}", transient=True)
    cause = exc.__cause__
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(
        cause, ssl.SSLCertVerificationError
    ):
        # A certificate that does not verify is configuration, not bad luck.
        return ProviderError(f"the SMTP server's TLS certificate: {exc}", transient=False)
    if isinstance(exc, SMTPServerDisconnected | ConnectionError | OSError):
        return ProviderError(f"the SMTP connection failed: {exc}", transient=True)
    if isinstance(exc, SMTPNotSupported):
        return ProviderError(f"the SMTP server cannot take it: {exc}", transient=False)
    if isinstance(exc, SMTPException):
        return ProviderError(f"SMTP error: {exc}", transient=False)
    if isinstance(exc, ValueError):
        return ProviderError(f"the message cannot be sent: {exc}", transient=False)
    return ProviderError(f"SMTP error: {exc!r}", transient=True)


class SmtpProvider:
    """Sends email over one SMTP connection, opened on first use and reused."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings, sender: EmailSender) -> None:
        self.settings = settings
        self.sender = sender
        self._smtp: aiosmtplib.SMTP | None = None
        # Held from prepare until commit or abort: one transaction on the connection at a time.
        self._lock = asyncio.Lock()

    # --- the ChannelProvider / TwoPhaseProvider API ----------------------------------------

    async def send(self, message: OutboundMessage) -> ProviderResult:
        """Send one message now (prepare and commit in one go)."""
        prepared = await self.prepare(message)
        return await prepared.commit()

    async def prepare(self, message: OutboundMessage) -> SmtpPreparedSend:
        """Run the transaction up to the final `.`; ProviderError if the server refuses it."""
        message_id = message_id_of(message, self.sender)
        try:
            payload = _data_payload(email_bytes(message, self.sender, message_id=message_id))
        except (ValueError, TypeError) as exc:
            raise ProviderError(f"the message cannot be built: {exc}", transient=False) from exc
        await self._lock.acquire()
        try:
            smtp = await self._begin(message.to, len(payload) + 3)
            protocol = smtp.protocol
            if protocol is None:
                raise SMTPServerDisconnected("the connection closed after DATA")
            protocol.write(payload)
        except BaseException as exc:
            self._lock.release()
            if isinstance(exc, Exception):
                raise provider_error(exc) from exc
            self._drop()  # cancelled mid-transaction: the connection's state is unknown
            raise
        return SmtpPreparedSend(self, smtp, message_id)

    async def close(self) -> None:
        """Say QUIT and close the connection (a later send opens a new one).

        With a prepared send still open the connection is closed at once instead: that
        message is discarded, and its `commit` answers a transient ProviderError."""
        if self._lock.locked():
            self._drop()
            return
        async with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None or not smtp.is_connected:
                return
            try:
                await smtp.quit(timeout=min(self.settings.timeout, 5.0))
            except (SMTPException, OSError, TimeoutError):
                pass
            finally:
                smtp.close()

    # --- the connection ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password if s.username else None,
            local_hostname=s.local_hostname,
            timeout=s.timeout,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=s.tls_context,
        )
        await smtp.connect()  # EHLO, STARTTLS and AUTH as configured
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    async def _reset(self) -> None:
        """RSET after a refused command so the connection can carry the next message."""
        smtp = self._smtp
        if smtp is None or not smtp.is_connected:
            self._drop()
            return
        try:
            response = await smtp.rset()
        except (SMTPException, OSError, TimeoutError):
            self._drop()
            return
        if response.code != _SMTP_OK:
            self._drop()

    async def _begin(self, recipient: str, size: int) -> aiosmtplib.SMTP:
        """Connect if needed, then MAIL, RCPT and DATA; the server is ready for content."""
        reused = self.connected
        smtp = self._smtp if reused and self._smtp is not None else await self._connect()
        rcpt_encoding = self._encoding(smtp, recipient)
        try:
            await self._mail(smtp, size)
        except SMTPServerDisconnected:
            if not reused:
                raise
            # The server closed the idle connection (a timeout, a per-connection limit) and
            # we only learned it now. Nothing was sent: a fresh connection is safe.
            self._drop()
            smtp = await self._connect()
            await self._mail(smtp, size)
        try:
            await smtp.rcpt(recipient, encoding=rcpt_encoding)
            response = await smtp.execute_command(b"DATA")
            if response.code != _SMTP_DATA_START:
                raise aiosmtplib.SMTPDataError(response.code, response.message)
        except SMTPResponseException as exc:
            await self._after_refusal(exc)
            raise
        except BaseException:
            self._drop()
            raise
        return smtp

    async def _mail(self, smtp: aiosmtplib.SMTP, size: int) -> None:
        sender = self.sender.from_email
        options = [f"SIZE={size}"] if smtp.supports_extension("size") else []
        encoding = self._encoding(smtp, sender)
        if encoding == "utf-8":
            options.append("SMTPUTF8")
        try:
            await smtp.mail(sender, options=options, encoding=encoding)
        except SMTPResponseException as exc:
            await self._after_refusal(exc)
            raise
        except SMTPServerDisconnected:
            raise
        except BaseException:
            self._drop()
            raise

    async def _after_refusal(self, exc: SMTPResponseException) -> None:
        if exc.code == _SMTP_CLOSING:
            self._drop()  # 421: the server is closing the connection
        else:
            await self._reset()

    @staticmethod
    def _encoding(smtp: aiosmtplib.SMTP, address: str) -> str:
        if address.isascii():
            return "ascii"
        if not smtp.supports_extension("smtputf8"):
            raise SMTPNotSupported(
                f"{address} has non-ASCII characters and the server does not offer SMTPUTF8"
            )
        return "utf-8"

    # --- used by SmtpPreparedSend ------------------------------------------------------------

    def _finish(self, drop: bool) -> None:
        if drop:
            self._drop()
        self._lock.release()


class SmtpPreparedSend:
    """A message whose content the server holds, waiting for the final `.`."""

    def __init__(self, provider: SmtpProvider, smtp: aiosmtplib.SMTP, message_id: str) -> None:
        self._provider = provider
        self._smtp = smtp
        self.message_id = message_id
        self._done = False

    def _claim(self) -> None:
        if self._done:
            raise RuntimeError("this prepared send was already committed or aborted")
        self._done = True

    async def commit(self) -> ProviderResult:
        """Write the final `.` and read the server's verdict."""
        self._claim()
        drop = False
        try:
            protocol = self._smtp.protocol
            if protocol is None or not self._smtp.is_connected:
                drop = True
                # Nothing passed the point of no return: the server has discarded it.
                raise ProviderError(
                    "the SMTP connection closed before the message was committed",
                    transient=True,
                )
            try:
                protocol.write(b".\r\n")
            except SMTPServerDisconnected as exc:
                drop = True
                raise ProviderError(
                    f"the SMTP connection closed before the message was committed: {exc}",
                    transient=True,
                ) from exc
            try:
                response = await protocol.read_response(timeout=self._provider.settings.timeout)
            except (SMTPException, OSError, TimeoutError) as exc:
                drop = True
                raise SmtpCommitUncertain(
                    f"no answer after the end of the message ({exc}); the server may have "
                    "accepted it",
                    transient=True,
                ) from exc
            except BaseException:
                drop = True
                raise
            if response.code != _SMTP_OK:
                drop = response.code == _SMTP_CLOSING
                raise _response_error(
                    SMTPResponseException(response.code, response.message), "the message"
                )
            return ProviderResult(provider="smtp", provider_message_id=self.message_id)
        finally:
            self._provider._finish(drop)

    async def abort(self) -> None:
        """Close the connection without the final `.`: the server discards the message.

        Inside DATA there is no command to cancel with (RSET would be read as content), so
        closing is the only way; the provider reconnects for its next message.
        """
        if self._done:
            return
        self._done = True
        self._provider._finish(drop=True)
