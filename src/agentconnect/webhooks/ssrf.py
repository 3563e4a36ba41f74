"""Outbound webhooks must not reach the installation's own network (SSRF).

A URL is refused when any address its host resolves to is loopback, private, link-local
(which holds the cloud metadata service, 169.254.169.254), shared, reserved, multicast or
unspecified, unless the operator allows private targets
(`AGENTCONNECT_WEBHOOKS_ALLOW_PRIVATE_TARGETS`). The check runs when an endpoint is saved and
again inside the HTTP client's resolver at every delivery, on the very addresses it then
connects to, so a name that later resolves elsewhere (DNS rebinding) is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class UnsafeTarget(OSError):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _refuse(host: str, address: str) -> UnsafeTarget:
    return UnsafeTarget(
        f"{host} resolves to {address}, a loopback, private, link-local or reserved address;"
        " webhooks may only reach public addresses"
    )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeTarget when the URL's host cannot be resolved or resolves to an address
    webhooks may not reach."""
    host = urlsplit(url).hostname
    if not host:
        raise UnsafeTarget("the URL has no host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeTarget(f"{host} cannot be resolved: {error}") from None
    for info in infos:
        address = str(info[4][0])
        if blocked(address):
            raise _refuse(host, address)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing hosts that resolve to an address webhooks may not reach."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for result in results:
                if blocked(result["host"]):
                    raise _refuse(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()
