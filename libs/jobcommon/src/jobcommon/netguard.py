"""SSRF guard for processes that fetch user-supplied URLs (yt-dlp children, metadata fetchers).

`install_connect_guard` adds a ``sys.addaudithook`` hook on ``socket.connect``: every outgoing
TCP/UDP connect made through Python sockets (the initial URL, redirects, ``<video src>``, HLS
segments, whatever the HTTP library) is checked against the resolved IP, and connects to
non-global addresses (loopback, RFC 1918, link-local incl. 169.254.169.254, CGNAT, multicast,
reserved, unspecified, ...) raise `BlockedAddressError`. Audit hooks are process-wide and cannot
be removed, so install it only in a worker process dedicated to untrusted fetches.

An allowlist of networks (``allowed_networks``, e.g. ``DOWNLOAD_ALLOWED_NETWORKS=10.1.2.0/24``) lifts the
block for exactly those networks, nothing else:

* it is matched against the address actually connected to (after DNS), so a host name that resolves
  (or re-resolves: DNS rebinding) to an address outside the list is still refused;
* it only widens the default: public addresses stay allowed, every other non-public one stays blocked;
* IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) are matched as the IPv4 address they reach;
* cloud metadata endpoints (169.254.169.254, fd00:ec2::254, 100.100.100.200) are allowed only when
  listed as that single address (``/32`` or ``/128``), never through a wider network such as
  ``169.254.0.0/16``;
* an entry must not cover a whole address family (``0.0.0.0/0``, ``::/0``): use
  ``allow_private=True`` (``DOWNLOAD_ALLOW_PRIVATE_NETWORKS``) to switch the guard off on purpose.

`check_url_scheme` validates a user URL before it is handed to any fetcher.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BLOCKED_MESSAGE_RE",
    "METADATA_ADDRESSES",
    "BlockedAddressError",
    "UnsupportedUrlError",
    "check_url_scheme",
    "connect_guard_installed",
    "install_connect_guard",
    "is_allowed_ip",
    "is_public_ip",
    "parse_networks",
]

_ALLOWED_SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS (IPv6)
    }
)
"""Cloud instance-metadata endpoints: allowed only when an allowlist names exactly that address."""


class BlockedAddressError(PermissionError):
    """A connect to a non-public address was refused by the connect guard."""


BLOCKED_MESSAGE_RE = re.compile(r"connection to non-public address \S+(?: \([^)]*\))? blocked")
"""Finds the guard's message in the text of an error that lost its cause (yt-dlp's fragment downloader
reports a failed fragment only as text: ``Got error: …: connection to non-public address … blocked``)."""


class UnsupportedUrlError(ValueError):
    """The URL is not an http(s) URL with a host."""


def check_url_scheme(url: str) -> None:
    """Raise `UnsupportedUrlError` unless ``url`` is ``http://`` or ``https://`` with a host."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError as exc:  # e.g. an invalid IPv6 literal or port
        raise UnsupportedUrlError(f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise UnsupportedUrlError(f"unsupported URL scheme ({shown}); only http:// and https:// are allowed")
    if not host:
        raise UnsupportedUrlError("URL has no host")


def _is_blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
    )


def is_public_ip(address: str) -> bool:
    """True when ``address`` (an IP literal, IPv6 zone id allowed) is a global unicast address.

    IPv6 addresses that embed an IPv4 address (v4-mapped, 6to4, NAT64 ``64:ff9b::/96``) must be
    public on both levels. Anything that does not parse is not public.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return not _is_blocked(ip.ipv4_mapped)  # ::ffff:a.b.c.d connects to a.b.c.d
    if _is_blocked(ip):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(_is_blocked(v4) for v4 in embedded):
            return False
    return True


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse allowlist entries (``"10.0.0.0/8"``, ``"192.168.1.5"``, ``"fd00::/8"``).

    Host bits are ignored (``10.1.2.3/8`` means ``10.0.0.0/8``). Raises ``ValueError`` for garbage and for
    an entry covering a whole address family.
    """
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ValueError(f"not an IP network: {entry!r}") from exc
        if network.prefixlen == 0:
            raise ValueError(
                f"{entry!r} allows every address; "
                "set DOWNLOAD_ALLOW_PRIVATE_NETWORKS=true to turn the guard off"
            )
        networks.append(network)
    return tuple(networks)


def is_allowed_ip(address: str, networks: Sequence[IPNetwork] = ()) -> bool:
    """True when a connect to ``address`` is fine: a public address, or one inside ``networks``.

    A metadata endpoint (`METADATA_ADDRESSES`) matches only a network that is exactly that address.
    """
    if is_public_ip(address):
        return True
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    exact_only = ip in METADATA_ADDRESSES
    for network in networks:
        if ip.version != network.version or ip not in network:
            continue
        if not exact_only or network.num_addresses == 1:
            return True
    return False


def _resolved_hosts(host: str) -> list[str]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    # A host name passed straight to sock.connect(): resolve it like connect() would.
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # connect() will fail to resolve it too
    return [str(info[4][0]) for info in infos]


def _check_connect(sock: Any, address: Any) -> None:
    family = getattr(sock, "family", None)
    if family == getattr(socket, "AF_UNIX", object()):
        return
    if not (isinstance(address, tuple) and address and isinstance(address[0], str)):
        if family in (socket.AF_INET, socket.AF_INET6):
            raise BlockedAddressError(f"connect to {address!r} blocked: cannot check the address")
        return  # other families (netlink, ...) carry no host
    host = address[0]
    for ip in _resolved_hosts(host):
        if not is_allowed_ip(ip, _allowed_networks):
            shown = host if ip == host else f"{host} ({ip})"
            raise BlockedAddressError(f"connection to non-public address {shown} blocked")


_lock = threading.Lock()
_installed = False
_allow_private = True
_allowed_networks: tuple[IPNetwork, ...] = ()


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or _allow_private:
        return
    if len(args) >= 2:
        _check_connect(args[0], args[1])


def install_connect_guard(*, allow_private: bool, allowed_networks: Iterable[str] = ()) -> None:
    """Install the ``socket.connect`` audit hook in this process (once; later calls only tighten).

    With ``allow_private=True`` the hook is installed but lets everything through (tests and
    trusted deployments); a later call with ``allow_private=False`` still turns blocking on,
    while a later ``allow_private=True`` never turns it off. ``allowed_networks`` (CIDR strings,
    see `parse_networks`) are let through although not public; a later call can only narrow the
    list (the intersection of both is kept: networks present in both calls).
    """
    global _installed, _allow_private, _allowed_networks
    networks = parse_networks(allowed_networks)
    with _lock:
        if _installed:
            _allow_private = _allow_private and allow_private
            _allowed_networks = tuple(n for n in _allowed_networks if n in networks)
            return
        _allow_private = allow_private
        _allowed_networks = networks
        sys.addaudithook(_audit_hook)
        _installed = True


def connect_guard_installed() -> bool:
    return _installed
