"""The address a request came from, for the per-address limits (logins, API tokens).

Without ``LASTMILE_TRUSTED_PROXIES`` it is ``REMOTE_ADDR``, the peer of the connection, and
``X-Forwarded-For`` is ignored: anyone can write that header.

Behind a reverse proxy every request's peer is the proxy, so one client's failures would
lock out everyone. With the proxies' networks listed, the client is read from
``X-Forwarded-For`` the way only a trusted proxy can vouch for:

1. The peer (``REMOTE_ADDR``) must itself be a trusted proxy; a connection from anywhere
   else is taken as it is, whatever its header says.
2. Walk ``X-Forwarded-For`` from the right. Each trusted proxy appends the address of the
   peer it saw, so the right-most entry that is not a trusted proxy is the client. Entries
   to its left were written by the client and are never read: a locked-out client prefixing
   another address does not become that address.
3. An entry that is not an IP address where a proxy should have written one (a proxy
   misconfigured, or passing a client's header on untouched) ends the walk at the last
   proxy seen: all such requests share that proxy's count, as without the setting.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the per-address limits count it (see the module docstring).

    This is ``AXES_CLIENT_IP_CALLABLE`` and the API token-failure counter's address.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "LASTMILE_TRUSTED_PROXIES", ())
    if not proxies or peer is None:
        return peer
    address = _parse(peer)
    if address is None or not _trusted(address, proxies):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed(forwarded.split(",")):
        hop = _parse(entry)
        if hop is None:
            break
        address = hop
        if not _trusted(hop, proxies):
            break
    return str(address)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket counts as itself.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: tuple) -> bool:
    return any(address.version == net.version and address in net for net in proxies)
