"""POST/PUT /api/v1/callbacks/{service}: asynchronous results from a provider (MoMo sends both)."""

from __future__ import annotations

from .. import callbacks, errors


class ProviderCallbacks:
    """No client credentials: a callback changes nothing by itself, it only triggers a status query.
    Limited in size (MOSPAY_CALLBACK_MAX_BYTES) and rate (MOSPAY_CALLBACK_*RATE_PER_MINUTE), and the
    answer is the same whether or not the callback named a payment."""

    def __init__(self, db, reconciler, config):
        self._db = db
        self._max_body = config.callback_max_bytes
        self._limits = callbacks.CallbackLimits(config.callback_rate_per_minute,
                                                config.callback_service_rate_per_minute)
        self._confirmer = callbacks.Confirmer(db, reconciler)

    def on_post(self, req, resp, service):
        self._limits.admit(service[:40], req.remote_addr or "unknown")
        if req.content_length is not None and req.content_length > self._max_body:
            raise errors.PayloadTooLarge(f"the body is larger than {self._max_body} bytes")
        raw = req.bounded_stream.read(self._max_body + 1)
        if len(raw) > self._max_body:
            raise errors.PayloadTooLarge(f"the body is larger than {self._max_body} bytes")
        self._confirmer.submit(callbacks.receive(self._db, service, req.method, raw))
        resp.media = dict(callbacks.ANSWER)

    on_put = on_post
