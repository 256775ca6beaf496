"""Where lastmile may send requests it is told to send: never to its own network by default.

Webhook subscriptions and messaging integrations name a URL that lastmile then POSTs to
from inside the deployment. Left unchecked, that URL can be ``http://169.254.169.254/``
(a cloud's metadata service), ``http://127.0.0.1:5432/`` or a host on the private network,
and the answer would come back in the delivery log (server-side request forgery).

The rule, applied when a URL is saved and again before every request:

1. Take the host out of the URL (a URL that cannot be read is refused; an international
   name becomes its IDNA form, which is what is resolved, sent as ``Host`` and checked
   against the certificate). An IP literal in any spelling the C library accepts
   (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``) is that address;
   a name is resolved, and EVERY address it resolves to is checked, not only the first.
2. An address is refused unless it is globally routable: loopback, private, link-local,
   shared (CGNAT), multicast, reserved, unspecified and documentation ranges are refused,
   and so is an IPv6 address that embeds one of them (IPv4-mapped, 6to4, NAT64).
3. Networks listed in ``LASTMILE_WEBHOOK_ALLOWED_NETWORKS`` are allowed all the same
   (a receiver on the deployment's own network, the test suite's on 127.0.0.1).

The request must then go to an address that was checked (``Target.addresses``), not to
whatever the name resolves to a moment later: otherwise a name answering with a public
address at the check and ``127.0.0.1`` at the connection (DNS rebinding) gets through.
``lastmile.webhooks.sender`` connects to the checked address and keeps the name for the
``Host`` header and TLS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import idna

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: not global, not private


class TargetRefused(Exception):
    """The URL may not be requested; ``reason`` says why in words, for the field error."""

    def __init__(self, reason: str, *, final: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        # False when trying again later may help (the name did not resolve this time).
        self.final = final


@dataclass(frozen=True)
class Target:
    """A URL that passed the check: its scheme, host (in ASCII: an international name in
    its IDNA form), port, and the addresses the request may connect to (in the resolver's
    order)."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    # What the Host header says: the ASCII host, with the port when the URL names one.
    authority: str = ""


def networks_parse(raw: str | Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """CIDRs (``"127.0.0.0/8, ::1/128"`` or a list); ValueError naming the bad one.

    Strict: host bits set (``10.0.0.1/8``) are refused, as a likely typo.
    """
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out: list[IPNetwork] = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            out.append(item)
            continue
        text = str(item).strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a network like 10.0.0.0/8 ({exc})") from None
    return tuple(out)


def _allowed_networks() -> tuple[IPNetwork, ...]:
    from django.conf import settings

    return networks_parse(getattr(settings, "LASTMILE_WEBHOOK_ALLOWED_NETWORKS", ()))


def _embedded(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, where routers or the kernel would use it."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What makes ``ip`` internal, or None for a globally routable address."""
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        # fec0::/10, deprecated (RFC 3879) but still routed inside some networks; Python
        # 3.11 counts it neither private nor reserved, and even global.
        return "a site-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def address_refusal(
    address: str | IPAddress, *, allowed: Sequence[IPNetwork] | None = None
) -> str | None:
    """Why a request may not go to ``address``, or None when it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip.version == 6 and getattr(ip, "scope_id", None):
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    nets = _allowed_networks() if allowed is None else allowed
    inner = _embedded(ip)
    # An IPv4-mapped address IS its IPv4 address on the wire; 6to4 and NAT64 ones reach
    # theirs through a gateway, so both must pass.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates: list[IPAddress] = [ip.ipv4_mapped]
    else:
        candidates = [ip] + ([inner] if inner is not None else [])
    if any(c in net for c in candidates for net in nets if c.version == net.version):
        return None
    for c in candidates:
        kind = _kind(c)
        if kind:
            shown = f"{ip} (which is {c})" if c is not ip else str(ip)
            return f"{shown} is {kind}"
    return None


def host_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, if it is an IP literal in any form the C resolver reads
    as one (``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(ch in "0123456789abcdefABCDEFxX." for ch in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def target_check(
    url: str,
    *,
    allowed: Sequence[IPNetwork] | None = None,
    resolver: Resolver | None = None,
) -> Target:
    """The checked target of ``url``, or TargetRefused saying why.

    A name that does not resolve is refused with ``final=False`` (it may resolve later).
    """
    parts = url_split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http:// or https:// URL with a host")
    try:
        explicit_port = parts.port
    except ValueError:
        raise TargetRefused("the port is not a number from 0 to 65535") from None
    port = explicit_port or (443 if parts.scheme == "https" else 80)
    host = host_ascii(parts.hostname)
    literal = host_literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list((resolver or _resolve)(host, port))
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"{host} does not resolve ({exc})", final=False) from None
        if not addresses:
            raise TargetRefused(f"{host} does not resolve", final=False)
    for address in addresses:
        try:
            why = address_refusal(address, allowed=allowed)
        except ValueError:
            why = f"{address!r} is not an IP address"
        if why:
            if literal is None:
                named = f"{host} resolves to {address}: "
            else:
                named = f"{host} means {literal}: " if str(literal) != host else ""
            raise TargetRefused(
                f"{named}{why}; internal addresses are refused "
                "(LASTMILE_WEBHOOK_ALLOWED_NETWORKS allows chosen networks)"
            )
    shown = f"[{host}]" if ":" in host else host
    authority = f"{shown}:{explicit_port}" if explicit_port else shown
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        addresses=tuple(addresses),
        authority=authority,
    )


def url_split(url: str) -> SplitResult:
    """``urlsplit``, or TargetRefused when the URL cannot be read (an unclosed ``[``, a
    bracketed host that is no IPv6 address): the one error urlsplit raises is bad input."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - reading it checks a bracketed host
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL ({exc})") from None
    return parts


def host_ascii(host: str) -> str:
    """The host as it goes to the resolver, the ``Host`` header and TLS: an international
    name in its IDNA (punycode) form, as browsers write it (UTS 46: ``exämple。com`` is
    ``xn--exmple-cua.com``); TargetRefused when the name has no such form.

    ASCII names are left alone (lower-cased by urlsplit already): IDNA's rules would refuse
    names that DNS serves every day, such as ``_dmarc`` or ``my_host``.
    """
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise TargetRefused(f"{host} is not a valid international domain name ({exc})") from None
