"""POST/PUT /api/v1/callbacks/{service}: asynchronous results from a provider (MoMo sends both)."""

from __future__ import annotations

from .. import callbacks, errors


class ProviderCallbacks:
    """No client credentials: a callback changes nothing by itself, it only triggers a status query."""

    def __init__(self, db, reconciler, max_body: int):
        self._db = db
        self._reconciler = reconciler
        self._max_body = max_body

    def on_post(self, req, resp, service):
        raw = req.bounded_stream.read(self._max_body + 1)
        if len(raw) > self._max_body:
            raise errors.PayloadTooLarge(f"the body is larger than {self._max_body} bytes")
        resp.media = callbacks.receive(self._db, self._reconciler, service, req.method, raw)

    on_put = on_post
