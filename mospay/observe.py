"""Per-request observability middleware: request id (kept from a trusted proxy), metrics, access log.

Falcon runs it first on the way in and last on the way out, so its duration covers the whole request,
the api_logs insert included. It never imports Falcon and does no I/O beyond one log call.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from .logs import ACCESS
from .metrics import Metrics
from .proxy import is_trusted, parse_networks

access_log = logging.getLogger(ACCESS)
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestObserver:
    def __init__(self, trusted_proxies=(), metrics: Metrics | None = None):
        self._trusted = parse_networks(trusted_proxies)
        self._metrics = metrics if metrics is not None else Metrics()

    def process_request(self, req, resp):
        req.context.observe_started = time.perf_counter()
        incoming = req.get_header("X-Request-ID")
        # Only a proxy we trust may choose the id (it links its own log line to ours); anyone
        # else could forge ids to muddle an investigation, so they get a fresh one.
        # The socket peer, not REMOTE_ADDR: TrustedProxies has already replaced that with the client.
        peer = req.env.get("mospay.peer_addr", req.remote_addr)
        if incoming and REQUEST_ID_RE.fullmatch(incoming) and is_trusted(self._trusted, peer):
            req.context.request_id = incoming
        else:
            req.context.request_id = secrets.token_hex(8)

    def process_response(self, req, resp, resource, req_succeeded):
        started = getattr(req.context, "observe_started", None)
        if started is None:
            return
        seconds = time.perf_counter() - started
        route = req.uri_template or "unmatched"  # a template, never the raw path: bounded labels
        status = resp.status_code
        self._metrics.observe_request(route, req.method, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            entry = getattr(req.context, "log", None) or {}
            app_id = entry.get("app_id") or "-"
            duration_ms = round(seconds * 1000, 2)
            access_log.info("%s %s %s %d %.2fms app=%s", req.context.request_id, req.method, route,
                            status, duration_ms, app_id,
                            extra={"request_id": req.context.request_id, "app_id": entry.get("app_id"),
                                   "method": req.method, "route": route, "status": status,
                                   "duration_ms": duration_ms, "remote_addr": req.remote_addr})
