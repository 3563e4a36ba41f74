"""Telling a machine's fetch of the open pixel from a person opening the message.

A prefetched open is still recorded (with `prefetched: true` in its metadata) because it shows
the message reached a mailbox, but engagement scoring leaves it out. The rules:

- `HEAD`: link checkers and security scanners ask whether a URL answers; a mail client that
  shows an image always GETs it.
- Apple Mail Privacy Protection: Apple's proxy fetches every remote image when the message
  arrives, opened or not, with the bare user agent `Mozilla/5.0` (a real Apple Mail fetch names
  AppleWebKit), from Apple's own network 17.0.0.0/8. Either sign marks the open prefetched.
- No user agent at all: every mail client and browser sends one.
- Known security scanners by their user agent (Barracuda, Proofpoint, Mimecast, ...).

Gmail's image proxy (`GoogleImageProxy` in the user agent) is NOT a prefetcher: Gmail fetches
the image through its proxy when the recipient opens the message and caches it afterwards, so
its request is a real (first) open, only without the reader's address. Device databases
reclassified it from robot to email client for that reason (WURFL, 2018).
"""

from __future__ import annotations

import ipaddress
import re

_APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
_BARE_MOZILLA = "Mozilla/5.0"
_SCANNERS = re.compile(
    r"barracuda|proofpoint|mimecast|symantec|messagelabs|forcepoint|trendmicro|"
    r"fireeye|sophos|bingpreview|linkcheck|urlscan",
    re.I,
)


def _from_apple(client_ip: str | None) -> bool:
    if not client_ip:
        return False
    try:
        return ipaddress.ip_address(client_ip) in _APPLE_NETWORK
    except ValueError:
        return False


def is_prefetch(method: str, user_agent: str | None, client_ip: str | None) -> bool:
    """Whether a request for the open pixel was made by a machine rather than a reader."""
    if method.upper() == "HEAD":
        return True
    agent = (user_agent or "").strip()
    if not agent or agent == _BARE_MOZILLA:
        return True
    return _from_apple(client_ip) or bool(_SCANNERS.search(agent))
