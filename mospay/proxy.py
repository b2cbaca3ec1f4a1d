"""Trusted reverse proxies: X-Forwarded-For / X-Forwarded-Proto are believed only from MOSPAY_TRUSTED_PROXIES.

A WSGI wrapper, so that REMOTE_ADDR and wsgi.url_scheme are right before anything reads them.
"""

from __future__ import annotations

import ipaddress

_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
              "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_BY", "HTTP_FORWARDED")


def parse_networks(proxies) -> list:
    return [ipaddress.ip_network(p, strict=False) for p in proxies]


def is_trusted(networks, address: str | None) -> bool:
    """Whether `address` (an IP as text) is one of the trusted proxies."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


class TrustedProxies:
    """Rewrites REMOTE_ADDR (the nearest untrusted hop) and the scheme for requests from a trusted proxy;
    strips the forwarding headers of every other request, so no later code can trust them by mistake.
    The socket peer stays available as environ["mospay.peer_addr"]."""

    def __init__(self, app, proxies=()):
        self.app = app
        self._networks = parse_networks(proxies)

    def is_trusted(self, address: str) -> bool:
        return is_trusted(self._networks, address)

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """Walk X-Forwarded-For from the right; the first hop that is not a trusted proxy is the client."""
        client = peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",")][-20:]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # anything left of a malformed entry was written by the client: stop believing
            client = hop
            if not self.is_trusted(hop):
                break
        return client

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        environ["mospay.peer_addr"] = peer
        if self._networks and self.is_trusted(peer):
            environ["REMOTE_ADDR"] = self.client_address(peer, environ.get("HTTP_X_FORWARDED_FOR", ""))
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        else:
            for name in _FORWARDED:
                environ.pop(name, None)
        return self.app(environ, start_response)
