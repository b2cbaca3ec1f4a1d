"""Where the gateway may send provider calls. By default anywhere but link-local and cloud-metadata
addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, in any spelling: IPv4-mapped, NAT64, the legacy
numeric forms `2852039166` or `0xa9.0xfe.0xa9.0xfe`); with MOSPAY_SERVICE_URL_ALLOW, only the hosts and
networks it lists. Checked when a service URL is saved and again before every provider call, on the URL
the function actually planned (a function may build any URL)."""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from . import errors

BLOCKED_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"))
BLOCKED_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)
# A host name's addresses, looked up at most once a minute: the check runs before every provider call,
# and a DNS query per payment would add its latency (unbounded by the call's own timeouts) to each one.
LOOKUP_TTL_S = 60.0
_LOOKUP_MAX = 1024
_lookups: dict[str, tuple[float, list]] = {}
_lookups_lock = threading.Lock()
_HOST_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*")


def parse_allow(entries) -> tuple:
    """MOSPAY_SERVICE_URL_ALLOW's entries as networks and lower-case host names; ValueError names a bad one."""
    allowed = []
    for entry in entries:
        entry = entry.strip().lower()
        try:
            allowed.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not _HOST_RE.fullmatch(entry.rstrip(".")):
            raise ValueError(f"{entry!r} is neither a host name nor an IP address or network")
        allowed.append(entry.rstrip("."))
    return tuple(allowed)


def literal_ip(host: str):
    """The address a host literal stands for, unwrapped to IPv4 where it embeds one; None for a name."""
    host = host.strip("[]").rstrip(".")
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        try:  # what the C library (and so urllib3) also accepts: 2852039166, 0251.0376.0251.0376, 0xa9fea9fe
            ip = ipaddress.IPv4Address(socket.inet_aton(host)) if host and host[0].isdigit() else None
        except OSError:
            ip = None
    return _unwrap(ip) if ip is not None else None


def _unwrap(ip):
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some)
            return ipaddress.IPv4Address(int(ip))
    return ip


def refusal(url: str, allow: tuple = (), *, resolve: bool = False) -> str | None:
    """Why a provider call to `url` is refused, or None. `resolve`: also look a host name up and refuse
    it when any of its addresses is blocked (at call time; saving a URL does not depend on DNS)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        return "the URL has no host"
    name = host.rstrip(".").lower()
    ip = literal_ip(name)
    if allow:
        if ip is None and name in allow:
            return None
        if ip is not None and any(isinstance(a, _NETWORKS) and ip.version == a.version and ip in a
                                  for a in allow):
            return None
        return f"{host} is not in MOSPAY_SERVICE_URL_ALLOW"
    if name in BLOCKED_HOSTS:
        return f"{host} is a cloud metadata host"
    addresses = [ip] if ip is not None else (_lookup(name) if resolve else [])
    for address in addresses:
        if any(address.version == net.version and address in net for net in BLOCKED_NETWORKS):
            return f"{host} is a link-local or cloud-metadata address"
    return None


def _lookup(name: str) -> list:
    now = time.monotonic()
    cached = _lookups.get(name)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # the call itself will fail to connect, as before (a failure is not remembered)
    addresses = [_unwrap(ipaddress.ip_address(info[4][0].split("%", 1)[0])) for info in infos]
    with _lookups_lock:
        if len(_lookups) >= _LOOKUP_MAX:
            _lookups.clear()
        _lookups[name] = (now + LOOKUP_TTL_S, addresses)
    return addresses


def check_service_url(url: str | None, allow_entries: tuple = (), field: str = "service_url") -> str | None:
    """The save-time rule for a service URL (admin API, portal, CLI): 422 naming the field.
    allow_entries: MOSPAY_SERVICE_URL_ALLOW as configured (validated at start-up)."""
    if url is not None:
        reason = refusal(url, parse_allow(allow_entries))
        if reason:
            raise errors.InvalidField(f"refused: {reason}", field=field, code="service_url_refused")
    return url
