"""A fast SMTP sink on loopback for the dispatch benchmark: accepts everything, keeps nothing but
counts and the Message-IDs.

    python -m bench.smtp_sink [--port 0] [--aiosmtpd]

It runs in a process of its own, so it shares neither the event loop nor the GIL of the
benchmark it serves. On start it prints one JSON line, `{"port": N}`; then it reads commands
on stdin, one a line, and answers each with one JSON line on stdout:

- `stats`: `{"messages", "distinct", "without_id", "connections", "bytes"}`: messages
  accepted (the final `.` answered 250), distinct Message-IDs among them, messages without
  one, TCP connections opened, content bytes;
- `reset`: forget all of it (answers `{"ok": true}`);
- `dump PATH`: write the Message-IDs received, one a line, to PATH (answers the stats);
- `quit`: stop (also on end of input).

The server speaks just enough SMTP for a client that sends mail (EHLO/HELO with PIPELINING,
8BITMIME, SIZE and SMTPUTF8; MAIL, RCPT, DATA with dot-terminated content, RSET, NOOP,
QUIT) and pipelines its answers. A connection lost before the final `.` counts nothing,
as with a real server. `--aiosmtpd` serves the same protocol with aiosmtpd instead, to
compare (it is several times slower per message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*<?([^\s<>]+)>?")
_FOLD = re.compile(rb"\r\n[ \t]+")
_END_OF_DATA = b"\r\n.\r\n"
_MAX_SIZE = 50 * 1024 * 1024
_EHLO = (
    b"250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
    + f"250-SIZE {_MAX_SIZE}\r\n".encode()
    + b"250 SMTPUTF8\r\n"
)


@dataclass
class Counts:
    messages: int = 0
    without_id: int = 0
    connections: int = 0
    bytes: int = 0
    ids: set[bytes] = field(default_factory=set)

    def received(self, content: bytes | bytearray) -> None:
        self.messages += 1
        self.bytes += len(content)
        head_end = content.find(b"\r\n\r\n")
        head = bytes(content[: head_end if head_end >= 0 else len(content)])
        match = _MESSAGE_ID.search(_FOLD.sub(b" ", head))
        if match is None:
            self.without_id += 1
        else:
            self.ids.add(match.group(1))

    def stats(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "distinct": len(self.ids),
            "without_id": self.without_id,
            "connections": self.connections,
            "bytes": self.bytes,
        }


class SinkProtocol(asyncio.Protocol):
    """One SMTP connection: commands line by line, content until `CRLF.CRLF`."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.in_data = False
        self.scanned = 0  # how far the content was searched for its end already
        self.mail = False
        self.rcpt = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.counts.connections += 1
        transport.write(b"220 sink.bench ESMTP ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        closing = False
        while not closing:
            if self.in_data:
                if not self._content(replies):
                    break
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > 4096:
                    replies.append(b"500 5.5.2 line too long\r\n")
                    closing = True
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            reply, closing = self._command(line)
            replies.append(reply)
        assert self.transport is not None
        if replies:
            self.transport.write(b"".join(replies))
        if closing:
            self.transport.close()

    def _content(self, replies: list[bytes]) -> bool:
        """Consume one message's content if it has all arrived; False when more must come."""
        if self.buffer.startswith(b".\r\n"):  # empty content
            content_end, rest = 0, 3
        else:
            found = self.buffer.find(_END_OF_DATA, max(0, self.scanned - 4))
            if found < 0:
                self.scanned = len(self.buffer)
                return False
            content_end, rest = found + 2, found + 5
        self.counts.received(self.buffer[:content_end])
        del self.buffer[:rest]
        self.in_data = self.mail = self.rcpt = False
        self.scanned = 0
        replies.append(b"250 2.0.0 Ok: queued\r\n")
        return True

    def _command(self, line: bytes) -> tuple[bytes, bool]:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.mail = self.rcpt = False
            return (_EHLO if verb == b"EHLO" else b"250 sink.bench\r\n"), False
        if verb == b"MAIL":
            if self.mail:
                return b"503 5.5.1 nested MAIL\r\n", False
            self.mail = True
            return b"250 2.1.0 Ok\r\n", False
        if verb == b"RCPT":
            if not self.mail:
                return b"503 5.5.1 MAIL first\r\n", False
            self.rcpt = True
            return b"250 2.1.5 Ok\r\n", False
        if verb == b"DATA":
            if not self.rcpt:
                return b"503 5.5.1 RCPT first\r\n", False
            self.in_data = True
            self.scanned = 0
            return b"354 End data with <CR><LF>.<CR><LF>\r\n", False
        if verb == b"RSET":
            self.mail = self.rcpt = False
            return b"250 2.0.0 Ok\r\n", False
        if verb == b"NOOP":
            return b"250 2.0.0 Ok\r\n", False
        if verb == b"QUIT":
            return b"221 2.0.0 Bye\r\n", True
        return b"502 5.5.2 Command not implemented\r\n", False


async def _serve_aiosmtpd(counts: Counts, host: str, port: int) -> asyncio.Server:
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            content = envelope.original_content or b""
            counts.received(content.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
            return "250 2.0.0 Ok: queued"

    class Counting(SMTP):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            counts.connections += 1
            super().connection_made(transport)

    handler = Handler()
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: Counting(handler, hostname="sink.bench", enable_SMTPUTF8=True),
        host,
        port,
        backlog=1024,
    )


async def _control(counts: Counts) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            return
        command, _, argument = line.partition(" ")
        answer: dict[str, Any]
        if command == "stats":
            answer = counts.stats()
        elif command == "reset":
            counts.messages = counts.without_id = counts.connections = counts.bytes = 0
            counts.ids = set()
            answer = {"ok": True}
        elif command == "dump":
            await asyncio.to_thread(Path(argument).write_bytes, b"\n".join(sorted(counts.ids)))
            answer = counts.stats()
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)


async def serve(host: str, port: int, use_aiosmtpd: bool) -> None:
    counts = Counts()
    if use_aiosmtpd:
        server = await _serve_aiosmtpd(counts, host, port)
    else:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SinkProtocol(counts), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": bound}), flush=True)
    async with server:
        await _control(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--aiosmtpd", action="store_true", help="serve with aiosmtpd instead")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.aiosmtpd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
