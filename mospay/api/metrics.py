"""GET /metrics: the Prometheus exposition, behind a bearer token or, without one, loopback only."""

from __future__ import annotations

import hmac

from .. import errors

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LOOPBACK = ("127.", "::1", "::ffff:127.")
# A request relayed by a local reverse proxy arrives from loopback too: these headers give it away.
_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


class Metrics:
    def __init__(self, token: str | None, registry):
        self._token = token.encode() if token else None
        self._registry = registry  # the app's mospay.metrics.Metrics

    def on_get(self, req, resp):
        if self._token is not None:
            header = req.get_header("Authorization") or ""
            given = header[7:].strip().encode() if header[:7].lower() == "bearer " else b""
            if not hmac.compare_digest(given, self._token):
                raise errors.Unauthorized("send Authorization: Bearer <MOSPAY_METRICS_TOKEN>",
                                          headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        elif not (req.remote_addr or "").startswith(_LOOPBACK) or any(req.get_header(h) for h in _PROXY_HEADERS):
            raise errors.Forbidden("metrics are served to loopback only; set MOSPAY_METRICS_TOKEN to scrape "
                                   "from elsewhere", code="metrics_forbidden")
        resp.content_type = CONTENT_TYPE
        resp.data = self._registry.render().encode()
        resp.cache_control = ["no-store"]
