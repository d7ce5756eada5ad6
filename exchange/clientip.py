"""The client's IP address, trusting ``X-Forwarded-For`` only as far as the configured proxies.

A reverse proxy (nginx in ``deploy/``) appends the address it saw to ``X-Forwarded-For``; anything to
the left of that was written by the client and can be anything. So the header is read only when the
peer (``REMOTE_ADDR``) is one of ``settings.TRUSTED_PROXIES`` (addresses or networks), and then from
the right: trusted proxies are skipped and the first address that is not one of them is the client.
With no trusted proxies configured the header is ignored and the client is the peer.

This is the one place that answers "who is the client": the login throttle, the axes lockout and the
audit log all ask it, so a spoofed header can neither reset a limit nor put a false address on record.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def trusted_proxy_networks() -> tuple[IPNetwork, ...]:
    """``settings.TRUSTED_PROXIES`` parsed (``ImproperlyConfigured``-style errors surface at first use)."""
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))


def parse_ip(text: str) -> IPAddress | None:
    """An address from a header value or ``REMOTE_ADDR`` (with an optional port, IPv6 in brackets);
    IPv4-mapped IPv6 addresses become IPv4. None for anything that is not an address."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the peer that sent ``request`` is one of the trusted reverse proxies (whose headers,
    such as ``X-Forwarded-For`` or ``X-Request-ID``, may be believed)."""
    remote = parse_ip(request.META.get("REMOTE_ADDR", "") or "")
    return remote is not None and _trusted(remote, trusted_proxy_networks())


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent ``request`` ("" when the server gives none)."""
    remote = parse_ip(request.META.get("REMOTE_ADDR", "") or "")
    if remote is None:
        return ""
    networks = trusted_proxy_networks()
    if not _trusted(remote, networks):
        return str(remote)
    client = remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed(forwarded.split(",") if forwarded else []):
        address = parse_ip(hop)
        if address is None:
            # Not written by a proxy we trust (they write addresses): the client is the last hop that was.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
